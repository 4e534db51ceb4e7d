//! Compiles the cxx bridges (src/bridge, one per concept) and the library's
//! C++ (cpp/src) into the crate, so the staticlib carries everything a C++
//! program needs and `cargo test` links on its own. cxx-build is the only
//! code generator.

use std::path::{Path, PathBuf};

/// Library C++ is built like the C++ users who cannot use exceptions: with
/// them off. Only the callback boundary, whose job is to catch what a user
/// callback throws, is built with them on.
const BOUNDARY: &str = "cpp/src/boundary.cpp";

fn main() {
    // A ThreadSanitizer build (CMake's MOQ_TSAN passes the flag to the C++
    // compiled here): src/tsan.rs then marks the hand-offs made through Rust.
    println!("cargo::rustc-check-cfg=cfg(moq_tsan)");
    println!("cargo:rerun-if-env-changed=CXXFLAGS");
    if std::env::var("CXXFLAGS").is_ok_and(|flags| flags.contains("-fsanitize=thread")) {
        println!("cargo:rustc-cfg=moq_tsan");
    }

    let sources: Vec<PathBuf> = std::fs::read_dir("cpp/src")
        .expect("cpp/src is missing")
        .map(|entry| entry.expect("cannot list cpp/src").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .filter(|p| p != Path::new(BOUNDARY))
        .collect();

    let warnings = ["-Wall", "-Wextra", "-Werror"];

    let mut boundary = cc::Build::new();
    boundary
        .cpp(true)
        .std("c++17")
        .file(BOUNDARY)
        .include("cpp/include")
        .flag("-fexceptions");
    for w in warnings {
        boundary.flag(w);
    }
    boundary.compile("moq_boundary");

    let bridges = bridge_files();
    let mut bridge = cxx_build::bridges(&bridges);
    bridge
        .std("c++17")
        .files(&sources)
        .include("cpp/include")
        .define("RUST_CXX_NO_EXCEPTIONS", None)
        .flag("-fno-exceptions");
    // cxx-build evaluates the bridge's `#[cfg(feature = ...)]` itself; the C++
    // that calls the test-only entries is compiled in under the same feature.
    if std::env::var_os("CARGO_FEATURE_TEST_HOOKS").is_some() {
        bridge.define("MOQ_TEST_HOOKS", None);
    }
    for w in warnings {
        bridge.flag(w);
    }
    bridge.compile("moq_cxx");

    println!("cargo:rerun-if-changed=src/bridge");
    for file in &bridges {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed=cpp/src");
    println!("cargo:rerun-if-changed=cpp/include/moq");
    for source in sources.iter().chain([PathBuf::from(BOUNDARY)].iter()) {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    for header in std::fs::read_dir("cpp/include/moq").expect("cpp/include/moq is missing") {
        println!(
            "cargo:rerun-if-changed={}",
            header.expect("listing").path().display()
        );
    }
    println!("cargo:rerun-if-changed=cpp/src/bridge.hpp");

    copy_generated_headers();
}

/// One `#[cxx::bridge]` per concept: every file of src/bridge but its mod.rs.
fn bridge_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("src/bridge")
        .expect("src/bridge is missing")
        .map(|entry| entry.expect("cannot list src/bridge").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("mod.rs"))
        .collect();
    files.sort();
    files
}

/// CMake may ask for the generated headers (MOQ_CXX_GENERATED_DIR); nothing
/// public includes them, but tools that index the library's C++ want them.
fn copy_generated_headers() {
    println!("cargo:rerun-if-env-changed=MOQ_CXX_GENERATED_DIR");
    let Some(dest) = std::env::var_os("MOQ_CXX_GENERATED_DIR") else {
        return;
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let generated = out.join("cxxbridge").join("include");
    copy_tree(&generated, Path::new(&dest));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("cannot create MOQ_CXX_GENERATED_DIR");
    for entry in std::fs::read_dir(from).expect("cannot read generated headers") {
        let entry = entry.expect("listing generated headers");
        // cxx-build lays the include tree out with symlinks: follow them.
        let path = std::fs::canonicalize(entry.path()).expect("resolving generated header");
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copying generated header");
        }
    }
}
