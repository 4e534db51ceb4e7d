//! The library's log, forwarded to the C++ log handler (engine: `crate::log`).

use crate::log;

#[cxx::bridge(namespace = "moq::ffi")]
pub mod ffi {
    /// `moq::LogLevel`.
    enum LogLevelKind {
        Debug,
        Info,
        Warn,
        Error,
    }

    extern "Rust" {
        /// On: every message at or above the level goes to `log_message`.
        fn log_forward_to_cpp(enabled: bool);
        /// `moq::set_log_level`.
        fn log_set_level(level: LogLevelKind);
    }

    unsafe extern "C++" {
        include!("moq-ffi/cpp/src/bridge.hpp");

        fn log_message(level: LogLevelKind, message: &str);
    }
}

use ffi::LogLevelKind;

fn log_set_level(level: LogLevelKind) {
    log::set_min_level(match level {
        LogLevelKind::Debug => log::Level::Debug,
        LogLevelKind::Info => log::Level::Info,
        LogLevelKind::Warn => log::Level::Warn,
        _ => log::Level::Error,
    });
}

fn log_forward_to_cpp(enabled: bool) {
    if enabled {
        log::set_sink(Some(Box::new(|level, message| {
            ffi::log_message(
                match level {
                    log::Level::Debug => LogLevelKind::Debug,
                    log::Level::Info => LogLevelKind::Info,
                    log::Level::Warn => LogLevelKind::Warn,
                    log::Level::Error => LogLevelKind::Error,
                },
                message,
            );
        })));
    } else {
        log::set_sink(None);
    }
}
