// Test fixture: temporary directories, child processes, and a real
// moq-relay-ietf (plus moq-clock-ietf peers) started on 127.0.0.1.
//
// Self-contained: C++17 + POSIX (Linux), no dependency on the moq library or on
// GoogleTest, no exceptions. Every wait is bounded.
//
// Environment:
//   MOQ_TOOLS_DIR   where tests/tools/install-peers.sh put the peers
//                   (default ${XDG_CACHE_HOME:-$HOME/.cache}/moq-tools):
//                   $MOQ_TOOLS_DIR/moq-relay-ietf-0.8.0/bin/moq-relay-ietf
//                   $MOQ_TOOLS_DIR/moq-clock-ietf-0.6.25/bin/moq-clock-ietf
// Compile definition:
//   MOQ_SOURCE_DIR  the source tree root; gen-certs.sh is found at
//                   ${MOQ_SOURCE_DIR}/tests/tools/gen-certs.sh
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace moq_test {

// A fresh directory under /tmp (mkdtemp), removed recursively on destruction.
class TempDir {
public:
    // On failure path() is empty and error() says why.
    explicit TempDir(const std::string& prefix = "moq-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    bool ok() const { return !path_.empty(); }
    const std::string& path() const { return path_; }
    const std::string& error() const { return error_; }
    // path() + "/" + name
    std::string file(const std::string& name) const;

private:
    std::string path_;
    std::string error_;
};

using LinePredicate = std::function<bool(const std::string& line)>;

// A child process whose stdout and stderr are captured through pipes drained by
// a reader thread. The child runs in its own process group (signals go to the
// whole group) and gets PR_SET_PDEATHSIG(SIGKILL), so it dies if the thread
// that spawned it (normally the test's main thread) dies.
// Captured text has ANSI colour sequences removed; children also get NO_COLOR=1.
class ChildProcess {
public:
    // argv[0] must be a path (no PATH search). `env` entries ("NAME=value")
    // are added to / override the inherited environment. Returns nullptr and
    // sets *error if the program could not be started (including exec failure).
    static std::unique_ptr<ChildProcess> spawn(const std::vector<std::string>& argv,
                                               std::string* error,
                                               const std::vector<std::string>& env = {});
    ~ChildProcess();  // stop()
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    const std::vector<std::string>& argv() const { return argv_; }
    // "argv[0] argv[1] ..." for messages.
    std::string command_line() const;

    // True while the child has not exited (reaps it if it has).
    bool running();

    std::string stdout_text() const;
    std::string stderr_text() const;
    // Complete lines (without '\n'); a trailing partial line is included once
    // the stream has ended.
    std::vector<std::string> stdout_lines() const;
    std::vector<std::string> stderr_lines() const;

    // Wait until a line matching `pred` (or containing `substring`) appears.
    // Returns false on timeout, or as soon as the stream ends (child exited)
    // without a match.
    bool wait_for_stdout_line(const LinePredicate& pred, std::chrono::milliseconds timeout);
    bool wait_for_stdout_line(const std::string& substring, std::chrono::milliseconds timeout);
    bool wait_for_stderr_line(const LinePredicate& pred, std::chrono::milliseconds timeout);
    bool wait_for_stderr_line(const std::string& substring, std::chrono::milliseconds timeout);
    // Wait until at least `count` stdout lines match `pred`.
    bool wait_for_stdout_lines(const LinePredicate& pred, std::size_t count,
                               std::chrono::milliseconds timeout);

    // Wait for the child to exit on its own. True if it did within `timeout`.
    bool wait_exit(std::chrono::milliseconds timeout);
    // Exit status once the child has exited: the exit code, or 128 + signal
    // number if it was killed by a signal; -1 while still running.
    int exit_status();

    // SIGTERM to the process group, wait up to `grace`, then SIGKILL. Idempotent.
    // Returns the exit status as exit_status() does.
    int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

    // Sends `sig` to the process group (e.g. SIGSTOP / SIGCONT). False if the
    // child is gone.
    bool signal(int sig);

private:
    ChildProcess() = default;
    struct Stream {
        std::string data;
        bool eof = false;
    };
    bool wait_for_line(int which, const LinePredicate& pred, std::size_t count,
                       std::chrono::milliseconds timeout);
    bool try_reap(bool block);
    void reader_main(int out_fd, int err_fd);
    void join_reader();

    std::vector<std::string> argv_;
    pid_t pid_ = -1;
    std::mutex reap_mutex_;
    bool exited_ = false;
    int status_ = -1;

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    Stream out_;
    Stream err_;
    bool stop_reader_ = false;
    std::thread reader_;
};

// A moq-relay-ietf listening on 127.0.0.1:<free port> with freshly generated
// certificates (test CA + end-entity cert for localhost / 127.0.0.1) and its own
// coordinator file. Stopped on destruction.
class Relay {
public:
    struct Options {
        // Pass --dev (also serves GET /fingerprint over HTTPS on the same port).
        bool dev = false;
        // Extra command-line arguments for moq-relay-ietf.
        std::vector<std::string> extra_args;
        // Readiness timeout per attempt.
        std::chrono::milliseconds ready_timeout{20000};
        // The relay binary; empty = relay_binary().
        std::string binary;
        // Which certificate of gen-certs.sh the relay serves: "cert" (for
        // localhost and 127.0.0.1) or "misnamed" (for elsewhere.invalid only).
        std::string certificate = "cert";
    };

    static std::unique_ptr<Relay> start(std::string* error);
    static std::unique_ptr<Relay> start(const Options& options, std::string* error);
    ~Relay();
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    // "https://localhost:PORT/" (WebTransport). The path "/" is the unscoped
    // root; publishers and subscribers must use the same path to meet.
    std::string url() const;
    // "moqt://localhost:PORT/" (raw QUIC).
    std::string moqt_url() const;
    // The same with an explicit path ("/scope", must start with '/').
    std::string url(const std::string& path) const;
    std::string moqt_url(const std::string& path) const;
    uint16_t port() const { return port_; }

    const std::string& cert_dir() const { return certs_->path(); }
    std::string ca_file() const;        // ca.pem: trusts the relay's cert
    std::string other_ca_file() const;  // other-ca.pem: unrelated CA (must fail)
    std::string cert_file() const;      // cert.pem (end-entity)
    std::string key_file() const;       // key.pem
    const std::string& cert_sha256() const { return cert_sha256_; }  // lowercase hex
    std::string coordinator_file() const;

    bool running();
    std::string stderr_text() const;
    ChildProcess& process() { return *process_; }
    // Stop the relay (SIGTERM, then SIGKILL). Returns its exit status.
    int stop();
    // Freeze the relay (SIGSTOP): it keeps its sockets but answers nothing,
    // like a peer that hangs. thaw() (SIGCONT) resumes it; the destructor
    // thaws before stopping.
    bool freeze();
    bool thaw();
    // Kill the relay (SIGKILL: no CLOSE reaches anyone) and start it again
    // on the same port with the same certificates; `extra_args`, if given,
    // replace Options::extra_args. False (and *error) if it does not become
    // ready.
    bool restart(std::string* error,
                 std::optional<std::vector<std::string>> extra_args = std::nullopt);
    // Kill the relay (SIGKILL) and leave it down.
    bool kill();

private:
    Relay() = default;
    std::unique_ptr<TempDir> work_;   // coordinator file, misc
    std::unique_ptr<TempDir> certs_;  // gen-certs.sh output
    std::unique_ptr<ChildProcess> process_;
    uint16_t port_ = 0;
    std::string cert_sha256_;
    // How it was started, for restart(): the arguments before the extra
    // ones, the extra ones, the environment, and the readiness wait.
    std::vector<std::string> base_args_;
    std::vector<std::string> extra_args_;
    std::vector<std::string> env_;
    std::chrono::milliseconds ready_timeout_{20000};
};

// $MOQ_TOOLS_DIR (or its default). Never empty.
std::string tools_dir();
// Full paths of the installed peers (may not exist).
std::string relay_binary();
// moq-relay-ietf built with --features auth-cat (install-peers.sh installs both).
std::string relay_auth_cat_binary();
std::string clock_binary();
// ${MOQ_SOURCE_DIR}/tests/tools/gen-certs.sh
std::string gen_certs_script();
// Runs gen-certs.sh into `dir`. False (and *error) if it fails.
bool generate_certs(const std::string& dir, std::string* error);

// Bind a UDP socket on 127.0.0.1:0, read the port, close it. 0 on failure.
uint16_t pick_free_udp_port();

// Runs `moq-clock-ietf <relay.url()> --bind 127.0.0.1:0 --tls-root <ca.pem>
// <extra_args...>`. Extra args may contain --publish, --namespace N, --track T,
// --datagrams, --join-groups N, or a --tls-root that overrides the default
// (e.g. relay.other_ca_file()) — an explicit --tls-root / --tls-disable-verify
// replaces the default root. A URL in extra_args (first arg starting with
// "https://" or "moqt://") replaces relay.url().
// The subscriber prints one time per line on stdout ("YYYY-MM-DD HH:MM:SS").
std::unique_ptr<ChildProcess> start_clock(const Relay& relay, std::vector<std::string> extra_args,
                                          std::string* error);

// True if `line` looks like "YYYY-MM-DD HH:MM:SS" (what the clock subscriber prints).
bool is_clock_line(const std::string& line);

// The moq-test-peer binary (compile definition or environment MOQ_TEST_PEER).
std::string test_peer_binary();

// moq-test-peer (tests/peer): a MoQT server built on moq-transport, for what
// moq-relay-ietf never sends a client (GOAWAY, PUBLISH) or shows (the
// SUBSCRIBE parameters, UNSUBSCRIBE, close code and reason). Listens on
// moqt://localhost:PORT/ with fresh certificates; `args` are its options
// (--goaway URI, --goaway-after-ms N, --publish NS/TRACK, --groups N, --serve).
// The binary: compile definition or environment MOQ_TEST_PEER. Stopped on
// destruction.
class TestPeer {
public:
    static std::unique_ptr<TestPeer> start(const std::vector<std::string>& args,
                                           std::string* error);
    std::string url() const { return "moqt://localhost:" + std::to_string(port_) + "/"; }
    std::string ca_file() const { return certs_->file("ca.pem"); }
    ChildProcess& process() { return *process_; }
    // Waits for the peer's report line starting with `prefix` (after
    // "moq-test-peer: ") and returns the whole report; empty on timeout.
    std::string wait_report(const std::string& prefix, std::chrono::milliseconds timeout);

private:
    TestPeer() = default;
    std::unique_ptr<TempDir> certs_;
    std::unique_ptr<ChildProcess> process_;
    uint16_t port_ = 0;
};

// A constrained link in front of a relay: tests/tools/slow-link.py forwards UDP
// on 127.0.0.1, limiting client-to-relay traffic to `rate` bytes/s behind a
// small drop-tail buffer. Stopped on destruction.
class SlowLink {
public:
    // Returns nullptr and sets *error if it cannot start.
    static std::unique_ptr<SlowLink> start(const Relay& relay, uint32_t rate, std::string* error);
    // The relay's WebTransport URL, reached through this link.
    std::string url() const { return "https://localhost:" + std::to_string(port_) + "/"; }
    // Drops every packet, both ways, while on (a dead path); false (and
    // *error set) if the link did not confirm the change within 5 s.
    bool set_blackhole(bool on, std::string* error);

private:
    SlowLink() = default;
    std::unique_ptr<ChildProcess> process_;
    uint16_t port_ = 0;
};

}  // namespace moq_test
