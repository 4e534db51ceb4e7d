#include "relay.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace moq_test {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = getenv(name);
    return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

bool is_executable(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

bool file_exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

bool read_file(const std::string& path, std::string* out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return true;
}

// Removes ANSI escape sequences (CSI "ESC [ ... final" and two-byte "ESC x").
std::string strip_ansi(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c != '\x1b') {
            out.push_back(c);
            continue;
        }
        if (i + 1 < s.size() && s[i + 1] == '[') {
            std::size_t j = i + 2;
            while (j < s.size() && !(s[j] >= 0x40 && s[j] <= 0x7e)) ++j;
            i = j;  // skip the final byte too (loop ++)
        } else {
            ++i;  // skip ESC and the next byte
        }
    }
    return out;
}

std::string clean_line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return strip_ansi(line);
}

std::vector<std::string> split_lines(const std::string& data, bool include_partial) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    for (;;) {
        std::size_t nl = data.find('\n', pos);
        if (nl == std::string::npos) break;
        lines.push_back(clean_line(data.substr(pos, nl - pos)));
        pos = nl + 1;
    }
    if (include_partial && pos < data.size()) lines.push_back(clean_line(data.substr(pos)));
    return lines;
}

int rm_entry(const char* path, const struct stat*, int, struct FTW*) {
    remove(path);
    return 0;
}

int decode_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 255;
}

std::string tail(const std::string& s, std::size_t max) {
    if (s.size() <= max) return s;
    return "...\n" + s.substr(s.size() - max);
}

}  // namespace

// ---------------------------------------------------------------- TempDir

TempDir::TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
        error_ = "mkdtemp(" + tmpl + ") failed: " + strerror(errno);
        return;
    }
    path_ = buf.data();
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    nftw(path_.c_str(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

std::string TempDir::file(const std::string& name) const { return path_ + "/" + name; }

// ---------------------------------------------------------------- ChildProcess

std::unique_ptr<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv,
                                                  std::string* error,
                                                  const std::vector<std::string>& env) {
    std::string scratch;
    if (error == nullptr) error = &scratch;
    if (argv.empty()) {
        *error = "ChildProcess::spawn: empty argv";
        return nullptr;
    }

    // Everything the child needs is prepared before fork(): after fork only
    // async-signal-safe calls are allowed (the test process has threads).
    std::vector<std::string> envs;
    auto overridden = [&](const std::string& entry) {
        std::string name = entry.substr(0, entry.find('='));
        for (const auto& e : env)
            if (e.compare(0, name.size() + 1, name + "=") == 0) return true;
        return name == "NO_COLOR";
    };
    for (char** e = environ; e != nullptr && *e != nullptr; ++e)
        if (!overridden(*e)) envs.emplace_back(*e);
    bool has_no_color = false;
    for (const auto& e : env) {
        envs.push_back(e);
        if (e.compare(0, 9, "NO_COLOR=") == 0) has_no_color = true;
    }
    if (!has_no_color) envs.emplace_back("NO_COLOR=1");

    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);

    int out_pipe[2], err_pipe[2], exec_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
        *error = std::string("pipe2 failed: ") + strerror(errno);
        return nullptr;
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        *error = std::string("pipe2 failed: ") + strerror(errno);
        close(out_pipe[0]);
        close(out_pipe[1]);
        return nullptr;
    }
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
        *error = std::string("pipe2 failed: ") + strerror(errno);
        for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
        return nullptr;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    auto close_all = [&] {
        for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], exec_pipe[0],
                       exec_pipe[1], devnull})
            if (fd >= 0) close(fd);
    };
    if (devnull < 0) {
        *error = std::string("open /dev/null failed: ") + strerror(errno);
        close_all();
        return nullptr;
    }

    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        *error = std::string("fork failed: ") + strerror(errno);
        close_all();
        return nullptr;
    }
    if (pid == 0) {
        // Child: async-signal-safe calls only.
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);  // parent died before prctl
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaction(sig, &dfl, nullptr);
        if (dup2(devnull, 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0) {
            int e = errno;
            ssize_t w = write(exec_pipe[1], &e, sizeof e);
            (void)w;
            _exit(127);
        }
#ifdef SYS_close_range
        // Do not leak the test process's other descriptors (CLOSE_RANGE_CLOEXEC = 4).
        syscall(SYS_close_range, 3u, ~0u, 4u);
#endif
        execve(cargv[0], cargv.data(), cenv.data());
        int e = errno;
        ssize_t w = write(exec_pipe[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }

    // Parent.
    setpgid(pid, pid);  // also done by the child; whichever runs first wins
    close(out_pipe[1]);
    close(err_pipe[1]);
    close(exec_pipe[1]);
    close(devnull);

    int child_errno = 0;
    ssize_t n;
    do {
        n = read(exec_pipe[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    close(exec_pipe[0]);
    if (n > 0) {
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        close(out_pipe[0]);
        close(err_pipe[0]);
        *error = "cannot execute " + argv[0] + ": " + strerror(child_errno);
        return nullptr;
    }

    std::unique_ptr<ChildProcess> child(new ChildProcess());
    child->argv_ = argv;
    child->pid_ = pid;
    int out_fd = out_pipe[0], err_fd = err_pipe[0];
    ChildProcess* self = child.get();
    child->reader_ = std::thread([self, out_fd, err_fd] { self->reader_main(out_fd, err_fd); });
    return child;
}

void ChildProcess::reader_main(int out_fd, int err_fd) {
    int fds[2] = {out_fd, err_fd};
    char buf[65536];
    for (;;) {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            if (stop_reader_) break;
        }
        if (fds[0] < 0 && fds[1] < 0) break;
        struct pollfd pfd[2];
        for (int i = 0; i < 2; ++i) {
            pfd[i].fd = fds[i];
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
        }
        int r = poll(pfd, 2, 100);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i] < 0 || pfd[i].revents == 0) continue;
            ssize_t n = read(fds[i], buf, sizeof buf);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            std::lock_guard<std::mutex> lk(mutex_);
            Stream& s = i == 0 ? out_ : err_;
            if (n > 0) {
                s.data.append(buf, static_cast<std::size_t>(n));
            } else {
                s.eof = true;
                close(fds[i]);
                fds[i] = -1;
            }
            cv_.notify_all();
        }
    }
    for (int i = 0; i < 2; ++i)
        if (fds[i] >= 0) close(fds[i]);
    std::lock_guard<std::mutex> lk(mutex_);
    out_.eof = true;
    err_.eof = true;
    cv_.notify_all();
}

void ChildProcess::join_reader() {
    if (!reader_.joinable()) return;
    {
        // Give the reader a moment to drain what the child wrote before it died.
        std::unique_lock<std::mutex> lk(mutex_);
        cv_.wait_for(lk, milliseconds(2000), [&] { return out_.eof && err_.eof; });
        stop_reader_ = true;
    }
    reader_.join();  // bounded: the reader re-checks stop_reader_ every 100 ms
}

ChildProcess::~ChildProcess() { stop(); }

std::string ChildProcess::command_line() const {
    std::string s;
    for (const auto& a : argv_) {
        if (!s.empty()) s += ' ';
        s += a;
    }
    return s;
}

bool ChildProcess::try_reap(bool block) {
    std::lock_guard<std::mutex> lk(reap_mutex_);
    if (exited_) return true;
    if (pid_ <= 0) return true;
    // Detect the exit without reaping, so the process-group id cannot be reused
    // while we sweep any stragglers left in the group.
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int flags = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
    int r;
    do {
        r = waitid(P_PID, static_cast<id_t>(pid_), &info, flags);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        // ECHILD: somebody else reaped it (e.g. SIGCHLD ignored). Treat as gone.
        exited_ = true;
        status_ = 255;
        return true;
    }
    if (info.si_pid == 0) return false;  // still running (WNOHANG)
    kill(-pid_, SIGKILL);                // sweep the rest of the group
    int st = 0;
    pid_t w;
    do {
        w = waitpid(pid_, &st, 0);
    } while (w < 0 && errno == EINTR);
    exited_ = true;
    status_ = w == pid_ ? decode_status(st) : 255;
    return true;
}

bool ChildProcess::running() { return !try_reap(false); }

int ChildProcess::exit_status() {
    try_reap(false);
    std::lock_guard<std::mutex> lk(reap_mutex_);
    return exited_ ? status_ : -1;
}

bool ChildProcess::wait_exit(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (try_reap(false)) break;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(milliseconds(10));
    }
    // Reaped is not read: let the reader take what the child wrote last, so
    // stdout_lines() right after this sees it (bounded: a grandchild may
    // still hold the pipes).
    std::unique_lock<std::mutex> lk(mutex_);
    cv_.wait_for(lk, milliseconds(2000), [&] { return out_.eof && err_.eof; });
    return true;
}

bool ChildProcess::signal(int sig) {
    if (pid_ <= 0 || try_reap(false)) return false;
    return kill(-pid_, sig) == 0;
}

int ChildProcess::stop(milliseconds grace) {
    if (pid_ > 0 && !try_reap(false)) {
        kill(-pid_, SIGTERM);
        if (!wait_exit(grace)) {
            kill(-pid_, SIGKILL);
            wait_exit(milliseconds(10000));  // SIGKILL cannot be ignored; bounded anyway
        }
    }
    join_reader();
    return exit_status();
}

std::string ChildProcess::stdout_text() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return strip_ansi(out_.data);
}

std::string ChildProcess::stderr_text() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return strip_ansi(err_.data);
}

std::vector<std::string> ChildProcess::stdout_lines() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return split_lines(out_.data, out_.eof);
}

std::vector<std::string> ChildProcess::stderr_lines() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return split_lines(err_.data, err_.eof);
}

bool ChildProcess::wait_for_line(int which, const LinePredicate& pred, std::size_t count,
                                 milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::size_t pos = 0;
    std::size_t matches = 0;
    if (count == 0) return true;
    for (;;) {
        std::vector<std::string> fresh;
        bool ended = false;
        bool timed_out = false;
        {
            std::unique_lock<std::mutex> lk(mutex_);
            const Stream& s = which == 1 ? out_ : err_;
            auto have_new = [&] { return s.eof || s.data.find('\n', pos) != std::string::npos; };
            if (!have_new()) timed_out = !cv_.wait_until(lk, deadline, have_new);
            for (;;) {
                std::size_t nl = s.data.find('\n', pos);
                if (nl == std::string::npos) break;
                fresh.push_back(clean_line(s.data.substr(pos, nl - pos)));
                pos = nl + 1;
            }
            if (s.eof) {
                if (pos < s.data.size()) fresh.push_back(clean_line(s.data.substr(pos)));
                pos = s.data.size();
                ended = true;
            }
        }
        // The predicate runs without the lock: it may call stdout_text() etc.
        for (const auto& line : fresh)
            if (pred(line) && ++matches >= count) return true;
        if (ended || timed_out || Clock::now() >= deadline) return false;
    }
}

bool ChildProcess::wait_for_stdout_line(const LinePredicate& pred, milliseconds timeout) {
    return wait_for_line(1, pred, 1, timeout);
}

bool ChildProcess::wait_for_stdout_line(const std::string& substring, milliseconds timeout) {
    return wait_for_line(
        1, [&](const std::string& l) { return l.find(substring) != std::string::npos; }, 1,
        timeout);
}

bool ChildProcess::wait_for_stderr_line(const LinePredicate& pred, milliseconds timeout) {
    return wait_for_line(2, pred, 1, timeout);
}

bool ChildProcess::wait_for_stderr_line(const std::string& substring, milliseconds timeout) {
    return wait_for_line(
        2, [&](const std::string& l) { return l.find(substring) != std::string::npos; }, 1,
        timeout);
}

bool ChildProcess::wait_for_stdout_lines(const LinePredicate& pred, std::size_t count,
                                         milliseconds timeout) {
    return wait_for_line(1, pred, count, timeout);
}

// ---------------------------------------------------------------- helpers

std::string tools_dir() {
    std::string dir = env_or("MOQ_TOOLS_DIR", "");
    if (!dir.empty()) return dir;
    std::string cache = env_or("XDG_CACHE_HOME", "");
    if (cache.empty()) cache = env_or("HOME", "/root") + "/.cache";
    return cache + "/moq-tools";
}

std::string relay_binary() { return tools_dir() + "/moq-relay-ietf-0.8.0/bin/moq-relay-ietf"; }

std::string relay_auth_cat_binary() {
    return tools_dir() + "/moq-relay-ietf-0.8.0-auth-cat/bin/moq-relay-ietf";
}

std::string clock_binary() { return tools_dir() + "/moq-clock-ietf-0.6.25/bin/moq-clock-ietf"; }

static std::string source_dir() {
#ifdef MOQ_SOURCE_DIR
    return MOQ_SOURCE_DIR;
#else
    return env_or("MOQ_SOURCE_DIR", "");
#endif
}

std::string gen_certs_script() { return source_dir() + "/tests/tools/gen-certs.sh"; }

bool generate_certs(const std::string& dir, std::string* error) {
    std::string spawn_error;
    auto gen = ChildProcess::spawn({"/usr/bin/env", "bash", gen_certs_script(), dir}, &spawn_error);
    if (!gen) {
        *error = "cannot run gen-certs.sh: " + spawn_error;
        return false;
    }
    if (!gen->wait_exit(std::chrono::milliseconds(60000))) {
        gen->stop();
        *error = "gen-certs.sh did not finish within 60 s";
        return false;
    }
    int status = gen->stop();
    if (status != 0) {
        *error = "gen-certs.sh failed (status " + std::to_string(status) + "): " + gen->stderr_text();
        return false;
    }
    return true;
}

uint16_t pick_free_udp_port() {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    uint16_t port = 0;
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

namespace {

// True if a TCP socket can bind 127.0.0.1:port (the --dev web server needs it).
bool tcp_port_free(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
}

// True if something accepts TCP connections on 127.0.0.1:port.
bool tcp_connects(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    // Loopback connects complete (or are refused) immediately.
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
}

}  // namespace

bool is_clock_line(const std::string& line) {
    // YYYY-MM-DD HH:MM:SS
    static const char kPattern[] = "dddd-dd-dd dd:dd:dd";
    if (line.size() != sizeof kPattern - 1) return false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (kPattern[i] == 'd') {
            if (line[i] < '0' || line[i] > '9') return false;
        } else if (line[i] != kPattern[i]) {
            return false;
        }
    }
    return true;
}

// ---------------------------------------------------------------- Relay

std::unique_ptr<Relay> Relay::start(std::string* error) { return start(Options(), error); }

std::unique_ptr<Relay> Relay::start(const Options& options, std::string* error) {
    std::string scratch;
    if (error == nullptr) error = &scratch;

    const std::string binary = options.binary.empty() ? relay_binary() : options.binary;
    if (!is_executable(binary)) {
        *error = "moq-relay-ietf not found at " + binary +
                 "; run tests/tools/install-peers.sh and set MOQ_TOOLS_DIR to the directory it "
                 "prints (default ${XDG_CACHE_HOME:-$HOME/.cache}/moq-tools)";
        return nullptr;
    }
    const std::string script = gen_certs_script();
    if (!file_exists(script)) {
        *error = "gen-certs.sh not found at " + script + " (is MOQ_SOURCE_DIR right?)";
        return nullptr;
    }

    std::unique_ptr<Relay> relay(new Relay());
    relay->certs_.reset(new TempDir("moq-relay-certs"));
    relay->work_.reset(new TempDir("moq-relay"));
    if (!relay->certs_->ok() || !relay->work_->ok()) {
        *error = relay->certs_->ok() ? relay->work_->error() : relay->certs_->error();
        return nullptr;
    }

    // Certificates.
    {
        if (!generate_certs(relay->certs_->path(), error)) return nullptr;
        std::string fp;
        if (!read_file(relay->certs_->file("cert.sha256"), &fp)) {
            *error = "gen-certs.sh did not write cert.sha256";
            return nullptr;
        }
        while (!fp.empty() && (fp.back() == '\n' || fp.back() == '\r' || fp.back() == ' '))
            fp.pop_back();
        relay->cert_sha256_ = fp;
    }

    std::string rust_log = env_or("MOQ_TEST_RELAY_LOG", "info,quinn=warn");
    // Readiness is the relay's "listening on" info line: keep it visible.
    rust_log += ",moq_relay_ietf::relay=info";

    // gen-certs.sh names: cert.pem + key.pem, or <name>-cert.pem + <name>-key.pem.
    const bool plain = options.certificate == "cert";
    const std::string cert_name = plain ? "cert" : options.certificate + "-cert";
    const std::string key_name = plain ? "key" : options.certificate + "-key";

    std::string last_failure;
    for (int attempt = 0; attempt < 3; ++attempt) {
        uint16_t port = pick_free_udp_port();
        // --dev also serves HTTPS over TCP on the same port number.
        for (int i = 0; options.dev && port != 0 && !tcp_port_free(port) && i < 20; ++i)
            port = pick_free_udp_port();
        if (port == 0) {
            last_failure = std::string("cannot pick a free UDP port: ") + strerror(errno);
            continue;
        }
        std::vector<std::string> argv = {binary,
                                         "--bind",
                                         "127.0.0.1:" + std::to_string(port),
                                         "--tls-cert",
                                         relay->certs_->file(cert_name + ".pem"),
                                         "--tls-key",
                                         relay->certs_->file(key_name + ".pem"),
                                         "--coordinator-file",
                                         relay->coordinator_file()};
        if (options.dev) argv.push_back("--dev");
        argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());

        std::string spawn_error;
        auto proc = ChildProcess::spawn(argv, &spawn_error, {"RUST_LOG=" + rust_log});
        if (!proc) {
            *error = "cannot start moq-relay-ietf: " + spawn_error;
            return nullptr;
        }
        // The relay binds its UDP socket before logging
        // "listening on 127.0.0.1:PORT" (moq-relay-ietf src/relay.rs).
        const std::string ready = "listening on 127.0.0.1:" + std::to_string(port);
        const auto deadline = Clock::now() + options.ready_timeout;
        bool is_ready = proc->wait_for_stderr_line(ready, options.ready_timeout);
        if (is_ready && options.dev) {
            // The web server logs nothing when it listens: poll its TCP port.
            while (!tcp_connects(port) && proc->running() && Clock::now() < deadline)
                std::this_thread::sleep_for(milliseconds(20));
            is_ready = proc->running() && tcp_connects(port);
        }
        if (is_ready) {
            relay->port_ = port;
            relay->process_ = std::move(proc);
            relay->base_args_.assign(argv.begin(), argv.end() - options.extra_args.size());
            relay->extra_args_ = options.extra_args;
            relay->env_ = {"RUST_LOG=" + rust_log};
            relay->ready_timeout_ = options.ready_timeout;
            return relay;
        }
        const bool exited = !proc->running();
        const int status = proc->stop();
        const std::string err = proc->stderr_text();
        last_failure = "moq-relay-ietf (" + proc->command_line() + ") " +
                       (exited ? "exited with status " + std::to_string(status)
                               : "did not become ready (stderr line \"" + ready + "\"" +
                                     (options.dev ? " and a TCP listener for --dev" : "") +
                                     ") within " +
                                     std::to_string(options.ready_timeout.count()) + " ms") +
                       "; stderr:\n" + tail(err, 8000);
        const bool port_taken = err.find("Address already in use") != std::string::npos ||
                                err.find("AddrInUse") != std::string::npos ||
                                err.find("os error 98") != std::string::npos;
        if (!port_taken) break;
    }
    *error = last_failure;
    return nullptr;
}

Relay::~Relay() {
    thaw();
    stop();
}

bool Relay::freeze() { return process_ && process_->signal(SIGSTOP); }
bool Relay::thaw() { return process_ && process_->signal(SIGCONT); }

std::string Relay::url() const { return url("/"); }
std::string Relay::moqt_url() const { return moqt_url("/"); }
std::string Relay::url(const std::string& path) const {
    return "https://localhost:" + std::to_string(port_) + path;
}
std::string Relay::moqt_url(const std::string& path) const {
    return "moqt://localhost:" + std::to_string(port_) + path;
}

std::string Relay::ca_file() const { return certs_->file("ca.pem"); }
std::string Relay::other_ca_file() const { return certs_->file("other-ca.pem"); }
std::string Relay::cert_file() const { return certs_->file("cert.pem"); }
std::string Relay::key_file() const { return certs_->file("key.pem"); }
std::string Relay::coordinator_file() const { return work_->file("coordinator.json"); }

bool Relay::running() { return process_ && process_->running(); }

std::string Relay::stderr_text() const { return process_ ? process_->stderr_text() : std::string(); }

int Relay::stop() { return process_ ? process_->stop() : -1; }

bool Relay::kill() {
    if (!process_) return false;
    thaw();
    if (!process_->signal(SIGKILL)) return false;
    process_->stop();  // reaps it
    return true;
}

bool Relay::restart(std::string* error, std::optional<std::vector<std::string>> extra_args) {
    std::string scratch;
    if (error == nullptr) error = &scratch;
    if (process_ && process_->running()) kill();
    if (extra_args) extra_args_ = std::move(*extra_args);
    std::vector<std::string> argv = base_args_;
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    const std::string ready = "listening on 127.0.0.1:" + std::to_string(port_);
    // The port was just freed; another process may take it meanwhile, so a
    // few attempts.
    for (int attempt = 0; attempt < 20; ++attempt) {
        std::string spawn_error;
        auto proc = ChildProcess::spawn(argv, &spawn_error, env_);
        if (!proc) {
            *error = "cannot start moq-relay-ietf again: " + spawn_error;
            return false;
        }
        if (proc->wait_for_stderr_line(ready, ready_timeout_)) {
            process_ = std::move(proc);
            return true;
        }
        proc->stop();
        *error = "moq-relay-ietf did not start again on port " + std::to_string(port_) +
                 "; stderr:\n" + tail(proc->stderr_text(), 4000);
        std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
}

// ---------------------------------------------------------------- clock

std::unique_ptr<ChildProcess> start_clock(const Relay& relay, std::vector<std::string> extra_args,
                                          std::string* error) {
    std::string scratch;
    if (error == nullptr) error = &scratch;
    const std::string binary = clock_binary();
    if (!is_executable(binary)) {
        *error = "moq-clock-ietf not found at " + binary +
                 "; run tests/tools/install-peers.sh and set MOQ_TOOLS_DIR to the directory it "
                 "prints";
        return nullptr;
    }
    std::string url = relay.url();
    bool has_root = false;
    std::vector<std::string> rest;
    bool url_taken = false;
    for (const auto& a : extra_args) {
        if (!url_taken && (a.rfind("https://", 0) == 0 || a.rfind("moqt://", 0) == 0)) {
            url = a;
            url_taken = true;
            continue;
        }
        if (a == "--tls-root" || a.rfind("--tls-root=", 0) == 0 || a == "--tls-disable-verify")
            has_root = true;
        rest.push_back(a);
    }
    std::vector<std::string> argv = {binary, url, "--bind", "127.0.0.1:0"};
    if (!has_root) {
        argv.push_back("--tls-root");
        argv.push_back(relay.ca_file());
    }
    argv.insert(argv.end(), rest.begin(), rest.end());
    return ChildProcess::spawn(argv, error);
}

// Waits for the "listening on 127.0.0.1:PORT" line a helper prints on
// stderr when ready, and returns PORT (0 and *error if it does not come).
static uint16_t wait_listening_port(ChildProcess& process, const std::string& name,
                                    std::string* error) {
    const std::string prefix = "listening on 127.0.0.1:";
    if (!process.wait_for_stderr_line(prefix, std::chrono::milliseconds(10000))) {
        *error = name + " did not start: " + process.stderr_text();
        return 0;
    }
    for (const std::string& line : process.stderr_lines()) {
        const auto at = line.find(prefix);
        if (at != std::string::npos) {
            const int port = std::atoi(line.c_str() + at + prefix.size());
            if (port > 0 && port < 65536) return static_cast<uint16_t>(port);
        }
    }
    *error = name + " printed no port: " + process.stderr_text();
    return 0;
}

std::unique_ptr<SlowLink> SlowLink::start(const Relay& relay, uint32_t rate, std::string* error) {
    std::string scratch;
    if (error == nullptr) error = &scratch;
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "python3",
                                     source_dir() + "/tests/tools/slow-link.py",
                                     "--to",
                                     "127.0.0.1:" + std::to_string(relay.port()),
                                     "--rate",
                                     std::to_string(rate)};
    std::unique_ptr<SlowLink> link(new SlowLink());
    link->process_ = ChildProcess::spawn(argv, error);
    if (!link->process_) return nullptr;
    link->port_ = wait_listening_port(*link->process_, "slow-link.py", error);
    if (link->port_ == 0) return nullptr;
    return link;
}

bool SlowLink::set_blackhole(bool on, std::string* error) {
    const std::string confirmation = on ? "black hole on" : "black hole off";
    auto confirmed = [&] {
        std::size_t n = 0;
        for (const auto& line : process_->stderr_lines()) n += line == confirmation ? 1 : 0;
        return n;
    };
    const std::size_t before = confirmed();
    if (::kill(process_->pid(), on ? SIGUSR1 : SIGUSR2) != 0) {
        *error = std::string("cannot signal slow-link.py: ") + strerror(errno);
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        if (confirmed() > before) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = "slow-link.py did not confirm \"" + confirmation + "\" within 5 s:\n" +
             process_->stderr_text();
    return false;
}

std::string test_peer_binary() {
#ifdef MOQ_TEST_PEER
    return MOQ_TEST_PEER;
#else
    return env_or("MOQ_TEST_PEER", "");
#endif
}

std::string TestPeer::wait_report(const std::string& prefix, milliseconds timeout) {
    const std::string marker = "moq-test-peer: " + prefix;
    std::string found;
    process_->wait_for_stderr_line(
        [&](const std::string& line) {
            if (line.rfind(marker, 0) != 0) return false;
            found = line.substr(std::string("moq-test-peer: ").size());
            return true;
        },
        timeout);
    return found;
}

std::unique_ptr<TestPeer> TestPeer::start(const std::vector<std::string>& args,
                                          std::string* error) {
    std::string scratch;
    if (error == nullptr) error = &scratch;
    const std::string binary = test_peer_binary();
    if (!file_exists(binary)) {
        *error = "moq-test-peer not found at \"" + binary +
                 "\": build the CMake target moq_test_peer (or set MOQ_TEST_PEER)";
        return nullptr;
    }
    std::unique_ptr<TestPeer> peer(new TestPeer());
    peer->certs_.reset(new TempDir("moq-peer-certs"));
    if (!peer->certs_->ok()) {
        *error = peer->certs_->error();
        return nullptr;
    }
    if (!generate_certs(peer->certs_->path(), error)) return nullptr;
    std::vector<std::string> argv = {binary, "--cert-dir", peer->certs_->path()};
    argv.insert(argv.end(), args.begin(), args.end());
    peer->process_ = ChildProcess::spawn(argv, error);
    if (!peer->process_) return nullptr;
    peer->port_ = wait_listening_port(*peer->process_, "moq-test-peer", error);
    if (peer->port_ == 0) return nullptr;
    return peer;
}

}  // namespace moq_test
