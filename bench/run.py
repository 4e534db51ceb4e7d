#!/usr/bin/env python3
"""moq's benchmark: the C++ library against the Rust engine used directly.

Starts one local moq-relay-ietf, then runs every scenario with both programs
in turn, N times each (the order alternates run by run), and prints a table of
medians and ratios (C++ / Rust):

    bench/moq-bench         (C++, the public API; built by CMake)
    bench/engine            (Rust twin: moq-transport 0.17 + moq-native-ietf)

    python3 bench/run.py [--runs N] [--quick] [--only NAME ...] [--build-dir DIR]

--quick runs every scenario once with a small load (seconds, not minutes): the
test command runs it so that both programs keep building and working; its
figures mean nothing. Without --quick both programs are built optimised.

Needs: the relay (tests/tools/install-peers.sh, found through MOQ_TOOLS_DIR),
cmake, cargo, openssl. Machine figures vary between runs: compare the ratios
of one run, not absolute numbers across runs.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAY_VERSION = "0.8.0"

KIB = 1024
MIB = 1024 * 1024

# name -> (arguments, transport, metrics shown). Metrics: (key, label, better).
FLOW = [("objects_per_s", "objects/s", "higher"), ("cpu_us_per_obj", "CPU µs/object", "lower"),
        ("peak_rss_mib", "peak RSS MiB", "lower"), ("chunks_per_obj", "chunks/object", "lower"),
        ("reorders", "group reorderings", "lower")]
FANOUT = [("delivered_per_s", "delivered/s", "higher"), ("cpu_us_per_obj", "CPU µs/delivered", "lower"),
          ("peak_rss_mib", "peak RSS MiB", "lower")]
LATENCY = [("p50_us", "p50 µs", "lower"), ("p90_us", "p90 µs", "lower"), ("p99_us", "p99 µs", "lower"),
           ("p999_us", "p99.9 µs", "lower"), ("cpu_us_per_obj", "CPU µs/object", "lower")]
SUBS = [("setup_us_per_sub", "setup µs/subscription", "lower"),
        ("rss_kib_per_sub", "KiB/subscription", "lower")]
IDLE = [("rss_mib", "RSS MiB", "lower"), ("idle_cpu_pct", "CPU %", "lower")]


def scenarios(quick):
    q = quick
    return [
        ("throughput 1 KiB", ["--scenario", "throughput", "--size", str(KIB),
                              "--count", "2000" if q else "20000", "--per-group", "100"], "wt", FLOW),
        ("throughput 1 KiB, raw QUIC", ["--scenario", "throughput", "--size", str(KIB),
                                        "--count", "2000" if q else "20000", "--per-group", "100"],
         "quic", FLOW),
        ("throughput 64 KiB", ["--scenario", "throughput", "--size", str(64 * KIB),
                               "--count", "100" if q else "2000", "--per-group", "10"], "wt", FLOW),
        ("throughput 1 MiB", ["--scenario", "throughput", "--size", str(MIB),
                              "--count", "20" if q else "200", "--per-group", "10"], "wt", FLOW),
        ("latency 200 B at 1000/s", ["--scenario", "latency", "--size", "200", "--rate", "1000",
                                     "--seconds", "1" if q else "5", "--per-group", "100"], "wt", LATENCY),
        ("latency 200 B at 1000/s, raw QUIC", ["--scenario", "latency", "--size", "200", "--rate", "1000",
                                               "--seconds", "1" if q else "5", "--per-group", "100"],
         "quic", LATENCY),
        ("fan-out to 8 sessions, 1 KiB", ["--scenario", "fanout", "--subscribers", "2" if q else "8",
                                         "--size", str(KIB), "--count", "1000" if q else "20000",
                                         "--per-group", "100"], "wt", FANOUT),
        # moq-relay-ietf 0.8.0 lets one session hold ~100 requests (one QUIC
        # stream each), so the 1,000 subscriptions use 90 per session.
        ("1,000 subscriptions, 90 per session", ["--scenario", "subscriptions", "--per-session", "90",
                                                 "--count", "100" if q else "1000"], "wt", SUBS),
        ("idle session", ["--scenario", "idle", "--seconds", "1" if q else "5"], "wt", IDLE),
    ]


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(cmd, **kwargs):
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def tools_dir():
    if os.environ.get("MOQ_TOOLS_DIR"):
        return os.environ["MOQ_TOOLS_DIR"]
    out = subprocess.run(["bash", os.path.join(ROOT, "tests/tools/install-peers.sh"), "moq-relay-ietf"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return out.strip().splitlines()[-1].split("=", 1)[1]


def build(args):
    """Builds both programs; returns their paths."""
    build_dir = os.path.abspath(args.build_dir)
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        run(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
    run(["cmake", "--build", build_dir, "--target", "moq-bench"])
    cpp = os.path.join(build_dir, "bench", "moq-bench")
    # --quick only proves the twin works: the dev profile reuses what `cargo
    # test` built. Measurements use release, like the C++ library.
    profile = "dev" if args.quick else "release"
    run(["cargo", "build", "--locked", "--profile", profile, "-p", "moq-bench-engine"], cwd=ROOT)
    rust = os.path.join(ROOT, "target", "debug" if args.quick else "release", "moq-bench-engine")
    return cpp, rust


class Relay:
    def __init__(self, binary, workdir):
        certs = os.path.join(workdir, "certs")
        run(["bash", os.path.join(ROOT, "tests/tools/gen-certs.sh"), certs], stdout=subprocess.DEVNULL)
        self.ca = os.path.join(certs, "ca.pem")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log_path = os.path.join(workdir, "relay.log")
        env = dict(os.environ, RUST_LOG="warn,moq_relay_ietf::relay=info", NO_COLOR="1")
        self.process = subprocess.Popen(
            [binary, "--bind", f"127.0.0.1:{self.port}", "--tls-cert", os.path.join(certs, "cert.pem"),
             "--tls-key", os.path.join(certs, "key.pem"),
             "--coordinator-file", os.path.join(workdir, "coordinator.json")],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"), env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if f"listening on 127.0.0.1:{self.port}" in open(self.log_path).read():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"bench: the relay did not start:\n{open(self.log_path).read()}")

    def url(self, transport):
        return f"{'https' if transport == 'wt' else 'moqt'}://localhost:{self.port}/"

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def measure(binary, relay, transport, scenario_args, timeout):
    cmd = [binary, "--url", relay.url(transport), "--ca", relay.ca] + scenario_args
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s: {' '.join(cmd)}"
    match = re.search(r"^RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        return None, (f"exit status {done.returncode}: {' '.join(cmd)}\nstdout:\n{done.stdout}\n"
                      f"stderr:\n{done.stderr[-4000:]}")
    return json.loads(match.group(1)), None


def fmt(value):
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each program per scenario (median)")
    parser.add_argument("--quick", action="store_true", help="small loads, one run: checks that it works")
    parser.add_argument("--only", nargs="*", default=[], help="scenarios whose name contains one of these")
    parser.add_argument("--build-dir", default=os.environ.get("MOQ_BUILD_DIR", os.path.join(ROOT, "build")))
    parser.add_argument("--cpp", help="a built moq-bench (skips building)")
    parser.add_argument("--rust", help="a built moq-bench-engine (skips building)")
    args = parser.parse_args()
    runs = 1 if args.quick else max(1, args.runs)

    relay_binary = os.path.join(tools_dir(), f"moq-relay-ietf-{RELAY_VERSION}", "bin", "moq-relay-ietf")
    if not os.path.isfile(relay_binary):
        raise SystemExit(f"bench: {relay_binary} not found: run tests/tools/install-peers.sh")
    if args.cpp and args.rust:
        cpp, rust = args.cpp, args.rust
    else:
        cpp, rust = build(args)
    programs = {"rust": rust, "cpp": cpp}

    workdir = tempfile.mkdtemp(prefix="moq-bench.")
    relay = Relay(relay_binary, workdir)
    failures = []
    rows = []
    try:
        for name, scenario_args, transport, metrics in scenarios(args.quick):
            if args.only and not any(o in name for o in args.only):
                continue
            results = {"rust": [], "cpp": []}
            for i in range(runs):
                order = ["rust", "cpp"] if i % 2 == 0 else ["cpp", "rust"]
                for impl in order:
                    result, error = measure(programs[impl], relay, transport, scenario_args,
                                            timeout=120 if args.quick else 600)
                    if error:
                        failures.append(f"{name} ({impl}): {error}")
                        log(f"FAILED {name} ({impl})")
                    else:
                        results[impl].append(result)
                        log(f"{name} ({impl}) run {i + 1}: " + ", ".join(
                            f"{label} {fmt(result.get(key))}" for key, label, _ in metrics))
            for key, label, _ in metrics:
                med = {impl: statistics.median([r[key] for r in rs]) if rs else None
                       for impl, rs in results.items()}
                ratio = (med["cpp"] / med["rust"]) if med["cpp"] is not None and med["rust"] else None
                rows.append((name, label, med["rust"], med["cpp"], ratio))
    finally:
        relay.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"moq benchmark — median of {runs} run(s) each, one moq-relay-ietf {RELAY_VERSION} on 127.0.0.1,"
          f" WebTransport unless noted; {os.cpu_count()} CPUs")
    print()
    print("| scenario | figure | Rust engine direct | moq C++ | C++ / Rust |")
    print("|---|---|---|---|---|")
    last = None
    for name, label, rust_value, cpp_value, ratio in rows:
        shown = name if name != last else ""
        last = name
        print(f"| {shown} | {label} | {fmt(rust_value)} | {fmt(cpp_value)} | "
              f"{'—' if ratio is None else f'{ratio:.2f}'} |")
    if failures:
        print("\nFAILED:\n" + "\n\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
