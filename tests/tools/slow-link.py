#!/usr/bin/env python3
"""A constrained network link for tests: a UDP forwarder on 127.0.0.1.

Packets from the client to the server pass a bottleneck: at most --rate bytes
per second, with a drop-tail queue of --queue bytes (like a router's buffer).
Packets from the server to the client pass unchanged. QUIC's congestion
control sees the bottleneck as a real slow link, so the sender builds a
backlog and its stream scheduling (priorities) decides what goes first.

SIGUSR1 turns the link into a black hole (every packet, both ways, is dropped
without a word, as on a dead path) and SIGUSR2 restores it; each change is
confirmed on stderr ("black hole on" / "black hole off").

Prints "listening on 127.0.0.1:PORT" on stderr once ready. Runs until SIGTERM
or --max-seconds pass.
"""

import argparse
import collections
import selectors
import signal
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True, help="server address, 127.0.0.1:PORT")
    parser.add_argument("--rate", type=int, default=2_000_000, help="bytes/s client->server")
    parser.add_argument("--queue", type=int, default=100_000, help="bottleneck buffer, bytes")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args()

    host, port = args.to.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        sys.exit("slow-link: --to must be a 127.0.0.1 address")
    server = ("127.0.0.1", int(port))

    outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outside.bind(("127.0.0.1", 0))
    inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inside.bind(("127.0.0.1", 0))
    inside.connect(server)
    for s in (outside, inside):
        s.setblocking(False)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    blackhole = [False]

    def set_blackhole(on):
        blackhole[0] = on
        print(f"black hole {'on' if on else 'off'}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR1, lambda *_: set_blackhole(True))
    signal.signal(signal.SIGUSR2, lambda *_: set_blackhole(False))
    sel = selectors.DefaultSelector()
    sel.register(outside, selectors.EVENT_READ, "outside")
    sel.register(inside, selectors.EVENT_READ, "inside")

    print(f"listening on 127.0.0.1:{outside.getsockname()[1]}", file=sys.stderr, flush=True)

    client = None
    queue = collections.deque()
    queued = 0
    next_send = time.monotonic()
    deadline = time.monotonic() + args.max_seconds

    while time.monotonic() < deadline:
        now = time.monotonic()
        while queue and next_send <= now:
            packet = queue.popleft()
            queued -= len(packet)
            try:
                inside.send(packet)
            except OSError:
                pass
            next_send = max(next_send, now - 0.01) + len(packet) / args.rate
        timeout = max(0.0, next_send - now) if queue else 0.5
        for key, _ in sel.select(timeout):
            if key.data == "outside":
                for _ in range(64):
                    try:
                        packet, addr = outside.recvfrom(65536)
                    except BlockingIOError:
                        break
                    client = addr
                    if blackhole[0]:
                        continue
                    if queued + len(packet) > args.queue:
                        continue  # drop-tail, like a full router buffer
                    queue.append(packet)
                    queued += len(packet)
            else:
                for _ in range(64):
                    try:
                        packet = inside.recv(65536)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    if client is not None and not blackhole[0]:
                        try:
                            outside.sendto(packet, client)
                        except OSError:
                            pass


if __name__ == "__main__":
    main()
