//! Test fixture: a real `moq-relay-ietf` on 127.0.0.1 with fresh certificates,
//! and `moq-clock-ietf` peers. Use from an integration test with
//!
//! ```ignore
//! #[path = "support/mod.rs"]
//! mod support;
//! ```
//!
//! Only `std` and the `tempfile` dev-dependency. Every wait is bounded.
//!
//! The peers come from `tests/tools/install-peers.sh`, found through
//! `MOQ_TOOLS_DIR` (default `${XDG_CACHE_HOME:-$HOME/.cache}/moq-tools`).
//! Certificates come from `tests/tools/gen-certs.sh`.
//!
//! Children run in their own process group (stopped as a group) with
//! `PR_SET_PDEATHSIG = SIGKILL`. They are forked from one long-lived spawner
//! thread, because the death signal follows the *thread* that forked, and
//! `cargo test` ends each test's thread when the test ends — a relay shared
//! between tests (e.g. in a `OnceLock`) must not die with the first test.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const RELAY_VERSION: &str = "0.8.0";
pub const CLOCK_VERSION: &str = "0.6.25";

// ------------------------------------------------------------------ libc bits

mod sys {
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;
    pub const PR_SET_PDEATHSIG: i32 = 1;
    unsafe extern "C" {
        pub fn kill(pid: i32, sig: i32) -> i32;
        pub fn prctl(option: i32, ...) -> i32;
        pub fn getppid() -> i32;
        pub fn getpid() -> i32;
    }
}

fn kill_group(pgid: u32, sig: i32) {
    if pgid > 0 {
        // SAFETY: plain syscall wrapper; a negative pid addresses the process group.
        unsafe {
            sys::kill(-(pgid as i32), sig);
        }
    }
}

// ------------------------------------------------------------------ paths

/// `$MOQ_TOOLS_DIR`, or `${XDG_CACHE_HOME:-$HOME/.cache}/moq-tools`.
pub fn tools_dir() -> PathBuf {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("MOQ_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let cache = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(non_empty("HOME").unwrap_or_else(|| OsString::from("/root")))
                .join(".cache")
        });
    cache.join("moq-tools")
}

pub fn relay_binary() -> PathBuf {
    tools_dir().join(format!("moq-relay-ietf-{RELAY_VERSION}/bin/moq-relay-ietf"))
}

/// The relay built with `--features auth-cat` (verifies Common Access Tokens
/// with `--scope-config`), installed by install-peers.sh next to the plain one.
pub fn relay_auth_cat_binary() -> PathBuf {
    tools_dir().join(format!(
        "moq-relay-ietf-{RELAY_VERSION}-auth-cat/bin/moq-relay-ietf"
    ))
}

pub fn clock_binary() -> PathBuf {
    tools_dir().join(format!("moq-clock-ietf-{CLOCK_VERSION}/bin/moq-clock-ietf"))
}

pub fn gen_certs_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/gen-certs.sh")
}

/// Runs `gen-certs.sh` into `dir` (waits up to 60 s). The error carries the
/// script's exit status (or the timeout) and its stderr.
pub fn generate_certs(dir: &Path) -> Result<(), String> {
    let mut gen = Process::spawn(
        Path::new("/usr/bin/env"),
        &["bash".into(), gen_certs_script().into(), dir.into()],
        &[],
    )?;
    let code = gen.wait_exit(Duration::from_secs(60));
    if code != Some(0) {
        gen.stop();
        return Err(format!(
            "gen-certs.sh failed ({}): {}",
            code.map_or("timed out after 60 s".to_string(), |c| format!(
                "status {c}"
            )),
            gen.stderr_text()
        ));
    }
    gen.stop();
    Ok(())
}

fn missing_tool(path: &Path) -> String {
    format!(
        "{} not found; run tests/tools/install-peers.sh and set MOQ_TOOLS_DIR to the \
         directory it prints (default ${{XDG_CACHE_HOME:-$HOME/.cache}}/moq-tools)",
        path.display()
    )
}

// ------------------------------------------------------------------ spawner thread

type SpawnJob = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnJob>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("moq-test-spawner".into())
            .spawn(move || {
                // Lives as long as the process: children's PDEATHSIG follows it.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn moq-test-spawner thread");
        Mutex::new(tx)
    })
}

fn spawn_on_spawner(cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    rx.recv_timeout(Duration::from_secs(30))
        .map_err(|_| std::io::Error::other("spawner thread did not answer within 30 s"))?
}

// ------------------------------------------------------------------ captured output

#[derive(Default)]
struct Stream {
    data: Vec<u8>,
    eof: bool,
}

#[derive(Default)]
struct Capture {
    stream: Mutex<Stream>,
    cv: Condvar,
}

impl Capture {
    fn pump(self: Arc<Self>, mut source: impl Read + Send + 'static) -> JoinHandle<()> {
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) => 0,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => 0,
                };
                let mut s = self.stream.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    s.eof = true;
                    self.cv.notify_all();
                    return;
                }
                s.data.extend_from_slice(&buf[..n]);
                self.cv.notify_all();
            }
        })
    }

    fn text(&self) -> String {
        let s = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        strip_ansi(&String::from_utf8_lossy(&s.data))
    }

    fn lines(&self) -> Vec<String> {
        let s = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        split_lines(&s.data, s.eof)
    }

    fn eof(&self) -> bool {
        self.stream.lock().unwrap_or_else(|e| e.into_inner()).eof
    }

    /// Waits until `count` lines match; false on timeout or end of stream.
    fn wait_for_lines(&self, pred: &dyn Fn(&str) -> bool, count: usize, timeout: Duration) -> bool {
        if count == 0 {
            return true;
        }
        let deadline = Instant::now() + timeout;
        let mut pos = 0usize;
        let mut matches = 0usize;
        loop {
            let (fresh, ended) = {
                let mut s = self.stream.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if s.eof || s.data[pos..].contains(&b'\n') {
                        break;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    s = self
                        .cv
                        .wait_timeout(s, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                let mut fresh = Vec::new();
                while let Some(nl) = s.data[pos..].iter().position(|&b| b == b'\n') {
                    fresh.push(clean_line(&s.data[pos..pos + nl]));
                    pos += nl + 1;
                }
                if s.eof && pos < s.data.len() {
                    fresh.push(clean_line(&s.data[pos..]));
                    pos = s.data.len();
                }
                (fresh, s.eof)
            };
            // The predicate runs without the lock held.
            for line in &fresh {
                if pred(line) {
                    matches += 1;
                    if matches >= count {
                        return true;
                    }
                }
            }
            if ended || Instant::now() >= deadline {
                return false;
            }
        }
    }
}

/// Removes ANSI escape sequences (`ESC [ ... final` and two-byte `ESC x`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for f in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&f) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

fn clean_line(bytes: &[u8]) -> String {
    let line = String::from_utf8_lossy(bytes);
    strip_ansi(line.strip_suffix('\r').unwrap_or(&line))
}

fn split_lines(data: &[u8], include_partial: bool) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut pos = 0;
    while let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') {
        lines.push(clean_line(&data[pos..pos + nl]));
        pos += nl + 1;
    }
    if include_partial && pos < data.len() {
        lines.push(clean_line(&data[pos..]));
    }
    lines
}

// ------------------------------------------------------------------ Process

/// A child process with captured stdout/stderr. Dropping it stops it.
pub struct Process {
    child: Child,
    pid: u32,
    argv: Vec<String>,
    out: Arc<Capture>,
    err: Arc<Capture>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Process {
    /// Starts `program args...` with `envs` added to the inherited environment
    /// (plus `NO_COLOR=1`), stdin from /dev/null.
    pub fn spawn(
        program: &Path,
        args: &[OsString],
        envs: &[(&str, &str)],
    ) -> Result<Process, String> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .process_group(0);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // SAFETY: getpid is async-signal-safe; evaluated before fork.
        let parent = unsafe { sys::getpid() };
        // SAFETY: only async-signal-safe calls (prctl, getppid) run in the child.
        unsafe {
            cmd.pre_exec(move || {
                sys::prctl(sys::PR_SET_PDEATHSIG, sys::SIGKILL as std::ffi::c_ulong);
                if sys::getppid() != parent {
                    return Err(std::io::Error::other("parent died before exec"));
                }
                Ok(())
            });
        }
        let mut argv = vec![program.display().to_string()];
        argv.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
        let mut child = spawn_on_spawner(cmd)
            .map_err(|e| format!("cannot execute {}: {e}", program.display()))?;
        let pid = child.id();
        let out = Arc::new(Capture::default());
        let err = Arc::new(Capture::default());
        let readers = vec![
            out.clone().pump(child.stdout.take().expect("piped stdout")),
            err.clone().pump(child.stderr.take().expect("piped stderr")),
        ];
        Ok(Process {
            child,
            pid,
            argv,
            out,
            err,
            readers,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
                // Sweep anything the child left behind in its group.
                kill_group(self.pid, sys::SIGKILL);
            }
        }
        self.status
    }

    /// True while the child has not exited.
    pub fn running(&mut self) -> bool {
        self.poll().is_none()
    }

    /// The exit code, or 128 + signal if killed by a signal; None while running.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.poll()
            .map(|s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)))
    }

    /// Waits up to `timeout` for the child to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.exit_code() {
                return Some(code);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM to the group, up to `grace`, then SIGKILL. Idempotent.
    /// Returns the exit code as `exit_code` does.
    pub fn stop_with_grace(&mut self, grace: Duration) -> Option<i32> {
        if self.running() {
            kill_group(self.pid, sys::SIGTERM);
            if self.wait_exit(grace).is_none() {
                kill_group(self.pid, sys::SIGKILL);
                let _ = self.wait_exit(Duration::from_secs(10));
            }
        }
        // Let the readers drain to EOF (bounded: the group is dead, pipes close).
        let deadline = Instant::now() + Duration::from_secs(2);
        while !(self.out.eof() && self.err.eof()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.out.eof() && self.err.eof() {
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
        } // else: detach them; they end when the last writer closes the pipe.
        self.exit_code()
    }

    pub fn stop(&mut self) -> Option<i32> {
        self.stop_with_grace(Duration::from_secs(3))
    }

    pub fn stdout_text(&self) -> String {
        self.out.text()
    }

    pub fn stderr_text(&self) -> String {
        self.err.text()
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.out.lines()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.err.lines()
    }

    /// Waits for a stdout line matching `pred`. False on timeout, or as soon as
    /// stdout ends (child exited) without a match.
    pub fn wait_for_stdout_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        self.out.wait_for_lines(&pred, 1, timeout)
    }

    pub fn wait_for_stdout_lines(
        &self,
        pred: impl Fn(&str) -> bool,
        count: usize,
        timeout: Duration,
    ) -> bool {
        self.out.wait_for_lines(&pred, count, timeout)
    }

    pub fn wait_for_stderr_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        self.err.wait_for_lines(&pred, 1, timeout)
    }

    pub fn wait_for_stdout_contains(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_stdout_line(|l| l.contains(needle), timeout)
    }

    pub fn wait_for_stderr_contains(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_stderr_line(|l| l.contains(needle), timeout)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `moq-clock-ietf` child (publisher or subscriber).
pub type Clock = Process;

// ------------------------------------------------------------------ Relay

/// Options for [`Relay::start_with`].
#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// Pass `--dev` (also serves `GET /fingerprint` over HTTPS).
    pub dev: bool,
    /// Extra arguments for moq-relay-ietf.
    pub extra_args: Vec<String>,
    /// Readiness timeout per attempt.
    pub ready_timeout: Duration,
    /// The relay binary; `None` = [`relay_binary`].
    pub binary: Option<PathBuf>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            dev: false,
            extra_args: Vec::new(),
            ready_timeout: Duration::from_secs(20),
            binary: None,
        }
    }
}

/// A `moq-relay-ietf` on `127.0.0.1:<free port>` with fresh certificates and its
/// own coordinator file. Dropping it stops it and removes its files.
pub struct Relay {
    // Field order matters: the process is stopped before the directories go.
    process: Process,
    port: u16,
    cert_sha256: String,
    certs: tempfile::TempDir,
    work: tempfile::TempDir,
}

/// Binds a UDP socket on 127.0.0.1:0, reads its port, closes it.
pub fn pick_free_udp_port() -> std::io::Result<u16> {
    let sock = std::net::UdpSocket::bind(("127.0.0.1", 0))?;
    Ok(sock.local_addr()?.port())
}

fn tcp_port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn tcp_connects(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

impl Relay {
    pub fn start() -> Result<Relay, String> {
        Self::start_with(RelayOptions::default())
    }

    pub fn start_with(options: RelayOptions) -> Result<Relay, String> {
        let binary = options.binary.clone().unwrap_or_else(relay_binary);
        if !binary.is_file() {
            return Err(missing_tool(&binary));
        }
        let script = gen_certs_script();
        if !script.is_file() {
            return Err(format!("gen-certs.sh not found at {}", script.display()));
        }
        let tmp = |prefix: &str| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in("/tmp")
                .map_err(|e| format!("cannot create a temp dir: {e}"))
        };
        let certs = tmp("moq-relay-certs.")?;
        let work = tmp("moq-relay.")?;

        // Certificates.
        generate_certs(certs.path())?;
        let cert_sha256 = std::fs::read_to_string(certs.path().join("cert.sha256"))
            .map_err(|e| format!("gen-certs.sh did not write cert.sha256: {e}"))?
            .trim()
            .to_string();

        let mut rust_log = std::env::var("MOQ_TEST_RELAY_LOG")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "info,quinn=warn".to_string());
        // Readiness is the relay's "listening on" info line: keep it visible.
        rust_log.push_str(",moq_relay_ietf::relay=info");

        let mut last_failure = String::new();
        for _attempt in 0..3 {
            let mut port = pick_free_udp_port();
            // --dev also serves HTTPS over TCP on the same port number.
            for _ in 0..20 {
                match port {
                    Ok(p) if options.dev && !tcp_port_free(p) => port = pick_free_udp_port(),
                    _ => break,
                }
            }
            let port = match port {
                Ok(p) => p,
                Err(e) => {
                    last_failure = format!("cannot pick a free UDP port: {e}");
                    continue;
                }
            };
            let mut args: Vec<OsString> = vec![
                "--bind".into(),
                format!("127.0.0.1:{port}").into(),
                "--tls-cert".into(),
                certs.path().join("cert.pem").into(),
                "--tls-key".into(),
                certs.path().join("key.pem").into(),
                "--coordinator-file".into(),
                work.path().join("coordinator.json").into(),
            ];
            if options.dev {
                args.push("--dev".into());
            }
            args.extend(options.extra_args.iter().map(OsString::from));
            let mut process = Process::spawn(&binary, &args, &[("RUST_LOG", rust_log.as_str())])?;
            // The relay binds its UDP socket before logging this line
            // (moq-relay-ietf src/relay.rs, Relay::run).
            let ready = format!("listening on 127.0.0.1:{port}");
            let deadline = Instant::now() + options.ready_timeout;
            let mut is_ready = process.wait_for_stderr_contains(&ready, options.ready_timeout);
            if is_ready && options.dev {
                // The web server logs nothing when it listens: poll its TCP port.
                while !tcp_connects(port) && process.running() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                is_ready = process.running() && tcp_connects(port);
            }
            if is_ready {
                return Ok(Relay {
                    process,
                    port,
                    cert_sha256,
                    certs,
                    work,
                });
            }
            let exited = !process.running();
            let code = process.stop();
            let stderr = process.stderr_text();
            let what = if exited {
                format!("exited with status {code:?}")
            } else {
                format!(
                    "did not become ready (stderr line \"{ready}\"{}) within {:?}",
                    if options.dev {
                        " and a TCP listener for --dev"
                    } else {
                        ""
                    },
                    options.ready_timeout
                )
            };
            last_failure = format!(
                "moq-relay-ietf ({}) {what}; stderr:\n{}",
                process.command_line(),
                tail(&stderr, 8000)
            );
            let port_taken = stderr.contains("Address already in use")
                || stderr.contains("AddrInUse")
                || stderr.contains("os error 98");
            if !port_taken {
                break;
            }
        }
        Err(last_failure)
    }

    /// `https://localhost:PORT/` (WebTransport). `/` is the unscoped root;
    /// publishers and subscribers must use the same path to meet.
    pub fn url(&self) -> String {
        self.url_with_path("/")
    }

    /// `moqt://localhost:PORT/` (raw QUIC).
    pub fn moqt_url(&self) -> String {
        self.moqt_url_with_path("/")
    }

    pub fn url_with_path(&self, path: &str) -> String {
        format!("https://localhost:{}{}", self.port, path)
    }

    pub fn moqt_url_with_path(&self, path: &str) -> String {
        format!("moqt://localhost:{}{}", self.port, path)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn cert_dir(&self) -> &Path {
        self.certs.path()
    }

    /// `ca.pem`: the test CA that signed the relay's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.certs.path().join("ca.pem")
    }

    /// `other-ca.pem`: an unrelated CA (verification against it must fail).
    pub fn other_ca_file(&self) -> PathBuf {
        self.certs.path().join("other-ca.pem")
    }

    pub fn cert_file(&self) -> PathBuf {
        self.certs.path().join("cert.pem")
    }

    pub fn key_file(&self) -> PathBuf {
        self.certs.path().join("key.pem")
    }

    /// Lowercase hex SHA-256 of the end-entity certificate's DER.
    pub fn cert_sha256(&self) -> &str {
        &self.cert_sha256
    }

    pub fn coordinator_file(&self) -> PathBuf {
        self.work.path().join("coordinator.json")
    }

    pub fn running(&mut self) -> bool {
        self.process.running()
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }

    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// Stops the relay (SIGTERM, then SIGKILL). Returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.process.stop()
    }
}

fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...\n{}", &s[start..])
}

// ------------------------------------------------------------------ clock

/// Runs `moq-clock-ietf <relay.url()> --bind 127.0.0.1:0 --tls-root <ca.pem> <extra_args>`.
/// `extra_args` may hold `--publish`, `--namespace N`, `--track T`, `--datagrams`,
/// `--join-groups N`; an explicit `--tls-root` / `--tls-disable-verify` replaces the
/// default root, and a first argument starting with `https://` or `moqt://`
/// replaces the URL. The subscriber prints `YYYY-MM-DD HH:MM:SS` lines on stdout
/// (so does the publisher, for what it sends).
pub fn start_clock(relay: &Relay, extra_args: &[&str]) -> Result<Clock, String> {
    let binary = clock_binary();
    if !binary.is_file() {
        return Err(missing_tool(&binary));
    }
    let mut url = relay.url();
    let mut url_taken = false;
    let mut has_root = false;
    let mut rest: Vec<OsString> = Vec::new();
    for a in extra_args {
        if !url_taken && (a.starts_with("https://") || a.starts_with("moqt://")) {
            url = a.to_string();
            url_taken = true;
            continue;
        }
        if *a == "--tls-root" || a.starts_with("--tls-root=") || *a == "--tls-disable-verify" {
            has_root = true;
        }
        rest.push(a.into());
    }
    let mut args: Vec<OsString> = vec![url.into(), "--bind".into(), "127.0.0.1:0".into()];
    if !has_root {
        args.push("--tls-root".into());
        args.push(relay.ca_file().into());
    }
    args.extend(rest);
    Process::spawn(&binary, &args, &[])
}

/// True if `line` looks like `YYYY-MM-DD HH:MM:SS` (what the clock prints).
pub fn is_clock_line(line: &str) -> bool {
    const PATTERN: &[u8] = b"dddd-dd-dd dd:dd:dd";
    let b = line.as_bytes();
    b.len() == PATTERN.len()
        && b.iter().zip(PATTERN).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            p => c == p,
        })
}

/// A constrained link in front of a relay: tests/tools/slow-link.py forwards
/// UDP on 127.0.0.1, with client-to-relay traffic limited to `rate` bytes/s
/// behind a small drop-tail buffer. Dropping it stops the forwarder.
pub struct SlowLink {
    _process: Process,
    port: u16,
}

impl SlowLink {
    pub fn start(relay: &Relay, rate: u32) -> Result<SlowLink, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/slow-link.py");
        let process = Process::spawn(
            Path::new("/usr/bin/env"),
            &[
                "python3".into(),
                script.into(),
                "--to".into(),
                format!("127.0.0.1:{}", relay.port()).into(),
                "--rate".into(),
                rate.to_string().into(),
            ],
            &[],
        )?;
        let prefix = "listening on 127.0.0.1:";
        if !process.wait_for_stderr_contains(prefix, Duration::from_secs(10)) {
            return Err(format!(
                "slow-link.py did not start: {}",
                process.stderr_text()
            ));
        }
        let text = process.stderr_text();
        let port = text
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("slow-link.py printed no port: {text}"))?;
        Ok(SlowLink {
            _process: process,
            port,
        })
    }

    /// The relay's WebTransport URL, reached through this link.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/", self.port)
    }
}
