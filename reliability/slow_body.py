#!/usr/bin/env python3
"""Slow-body attacker for reliability/run.sh (issue 5), where slowhttptest falls short.

    reliability/slow_body.py HOST PORT PATH CONNECTIONS RATE SECONDS CSV [BODY_BYTES]

Opens CONNECTIONS connections at RATE per second. Each sends a complete
`POST PATH` head announcing a BODY_BYTES-byte body (default 8192, slowhttptest's
`-s 8192`: small enough that waiter keeps the connection and discards the body),
then one body byte every 5 s, and reads (and discards) whatever the server
answers without ever closing itself: the server has to cut it off.
slowhttptest -B closes its connection as soon as the answer (405 from a static
server) arrives, so against waiter its 1,000 connections never stayed open at once.

A connection counts as closed when the server ends it (EOF or reset). After an
EOF the attacker still sends a byte every 0.5 s until the server's reset, so a
lingering close is held as long as the server allows; `released_after_fin_s_max`
says how long that was.

Every second it writes a CSV row in slowhttptest's layout (seconds, closed,
pending, connected, service available: a fresh GET of PATH answered within 1 s).
At the end (SECONDS, or SIGINT/SIGTERM) it prints `closed_by_server`,
`still_open`, `first_closed_at_s` and the seconds from connect to the server's
close (`cut_after_s_min`, `_median`, `_max`), one `name value` per line.
"""

import selectors
import signal
import socket
import sys
import time

INTERVAL = 5.0


def probe(host, port, path):
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return 1 if s.recv(12).startswith(b"HTTP/1.1 200") else 0
    except OSError:
        return 0


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    total, rate, seconds, csv_path = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
    body = int(sys.argv[8]) if len(sys.argv) > 8 else 8192
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {body}\r\n\r\n".encode()
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    opened = {}  # socket -> (connected at, next byte at)
    cut = []  # (closed at, seconds open)
    lingering = {}  # socket -> (EOF at, next byte at)
    released = []  # seconds from the server's EOF to its reset
    failed = 0
    t0 = time.monotonic()
    next_row = 1.0
    out = open(csv_path, "w")
    out.write("Seconds,Closed,Pending,Connected,Service Available\n")
    started = 0
    while not stop:
        now = time.monotonic() - t0
        if now >= seconds:
            break
        while started < total and started < rate * now:
            started += 1
            try:
                s = socket.create_connection((host, port), timeout=2)
                s.sendall(head)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                opened[s] = (now, now + INTERVAL)
            except OSError:
                failed += 1
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                gone = s.recv(65536) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                t = time.monotonic() - t0
                cut.append((t, t - opened.pop(s)[0]))
                sel.unregister(s)
                lingering[s] = (t, t)
        now = time.monotonic() - t0
        for s, (fin, due) in list(lingering.items()):
            if now >= due:
                try:
                    s.send(b"x")
                    lingering[s] = (fin, now + 0.5)
                except BlockingIOError:
                    lingering[s] = (fin, now + 0.5)
                except OSError:
                    released.append(now - fin)
                    del lingering[s]
                    s.close()
        for s, (since, due) in list(opened.items()):
            if now >= due:
                try:
                    s.send(b"x")
                    opened[s] = (since, now + INTERVAL)
                except BlockingIOError:
                    pass
                except OSError:
                    cut.append((now, now - opened.pop(s)[0]))
                    sel.unregister(s)
                    s.close()
        if now >= next_row:
            out.write(f"{int(next_row)},{len(cut)},{total - started},{len(opened)},{probe(host, port, path)}\n")
            out.flush()
            next_row += 1
    out.close()
    gaps = sorted(g for _, g in cut)
    print(f"connections {started}")
    print(f"connect_failures {failed}")
    print(f"closed_by_server {len(cut)}")
    print(f"still_open {len(opened)}")
    print(f"first_closed_at_s {round(min(t for t, _ in cut), 1) if cut else None}")
    if gaps:
        print(f"cut_after_s_min {gaps[0]:.1f}")
        print(f"cut_after_s_median {gaps[len(gaps) // 2]:.1f}")
        print(f"cut_after_s_max {gaps[-1]:.1f}")
    print(f"released_after_fin_s_max {max(released):.1f}" if released else "released_after_fin_s_max None")
    print(f"still_lingering {len(lingering)}")
    for s in list(opened) + list(lingering):
        s.close()


if __name__ == "__main__":
    main()
