#!/usr/bin/env python3
"""moq's soak: a long steady stream through one local moq-relay-ietf, the
publisher and the subscriber each in a process of its own (bench/moq-bench's
soak-publish and soak-subscribe scenarios).

    python3 bench/soak.py [--rate 10000] [--seconds 60] [--size 1024] [--build-dir DIR]
                          [--max-incoming-subgroups N]

The subscriber asks for ascending group order. Prints what it counted (lost, duplicated, out of order), its RSS
before, after a 10 s warm-up and at the end, and the CPU per object of each
side. Exits non-zero if anything was lost, duplicated or out of order. Not part
of the test command (it runs for minutes); the figures are in the README.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the benchmark's relay and build helpers)


def result_of(output):
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10000, help="objects per second")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", type=int, default=1024, help="bytes per object")
    parser.add_argument("--per-group", type=int, default=100, help="objects per group")
    parser.add_argument("--max-incoming-subgroups", type=int, default=0,
                        help="the subscriber's SessionConfig::max_incoming_subgroups (0: default)")
    parser.add_argument("--build-dir", default=os.path.join(bench.ROOT, "build-bench"))
    args = parser.parse_args()

    build_dir = os.path.abspath(args.build_dir)
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        bench.run(["cmake", "-S", bench.ROOT, "-B", build_dir, "-G", "Ninja",
                   "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
    bench.run(["cmake", "--build", build_dir, "--target", "moq-bench"])
    program = os.path.join(build_dir, "bench", "moq-bench")
    relay_binary = os.path.join(bench.tools_dir(), f"moq-relay-ietf-{bench.RELAY_VERSION}", "bin",
                                "moq-relay-ietf")

    count = args.rate * args.seconds
    with tempfile.TemporaryDirectory(prefix="moq-soak-") as workdir:
        relay = bench.Relay(relay_binary, workdir)
        try:
            common = ["--url", relay.url("wt"), "--ca", relay.ca, "--namespace", f"soak/{os.getpid()}",
                      "--size", str(args.size), "--per-group", str(args.per_group)]
            publisher = subprocess.Popen(
                [program, "--scenario", "soak-publish", "--rate", str(args.rate),
                 "--seconds", str(args.seconds)] + common,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if publisher.stdout.readline().strip() != "READY":
                raise SystemExit("soak: the publisher did not start")
            subscriber = subprocess.Popen(
                [program, "--scenario", "soak-subscribe", "--count", str(count), "--ascending",
                 "--max-incoming-subgroups", str(args.max_incoming_subgroups)] + common,
                stdout=subprocess.PIPE, text=True)
            if subscriber.stdout.readline().strip() != "WARM":
                raise SystemExit("soak: the subscriber received nothing")
            bench.log(f"streaming {count} objects of {args.size} B at {args.rate}/s")
            publisher.stdin.write("go\n")
            publisher.stdin.flush()
            bound = args.seconds + 120
            sub_out, _ = subscriber.communicate(timeout=bound)
            pub_out, _ = publisher.communicate(timeout=30)
        finally:
            relay.stop()
    sub, pub = result_of(sub_out), result_of(pub_out)
    if sub is None or pub is None:
        raise SystemExit(f"soak: a side printed no result:\n{pub_out}\n{sub_out}")
    print(f"moq soak: {count} objects of {args.size} B at {args.rate}/s for {args.seconds} s, "
          f"{args.per_group} per group, publisher and subscriber in separate processes, "
          f"one moq-relay-ietf {bench.RELAY_VERSION} on 127.0.0.1, WebTransport")
    print(f"  received {int(sub['received'])}, lost {int(sub['lost'])}, duplicated "
          f"{int(sub['duplicates'])}, out of order {int(sub['out_of_order'])}")
    print(f"  subscriber RSS: {sub['rss_before_mib']:.1f} MiB before, {sub['rss_warm_mib']:.1f} MiB after "
          f"10 s, {sub['rss_end_mib']:.1f} MiB at the end (peak {sub['peak_rss_mib']:.1f}); heap in use "
          f"{sub['heap_warm_mib']:.1f} MiB after 10 s, {sub['heap_end_mib']:.1f} MiB at the end")
    for what, prefix in (("RSS", "rss_"), ("heap in use", "heap_")):
        marks = sorted((int(k[len(prefix):-5]), v) for k, v in sub.items()
                       if k.startswith(prefix) and k.endswith("s_mib"))
        if marks:
            print(f"  subscriber {what} every 10 s from 20 s: "
                  + ", ".join(f"{v:.1f}" for _, v in marks) + " MiB")
    print(f"  CPU per object: subscriber {sub['cpu_us_per_obj']:.1f} µs, publisher "
          f"{pub['cpu_us_per_obj']:.1f} µs")
    ok = sub["lost"] == 0 and sub["duplicates"] == 0 and sub["out_of_order"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
