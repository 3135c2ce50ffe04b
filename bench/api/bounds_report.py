#!/usr/bin/env python3
"""Writes bench/results/api_bounds.md from the raw file of bench/api/bounds.sh.

Usage: bench/api/bounds_report.py RAW > bench/results/api_bounds.md

Every figure is the median [min-max] of the rounds; nothing is typed by hand.
"""

import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from serve_report import fmt_span  # noqa: E402


def parse(path):
    meta, runs = {}, []
    with open(path) as f:
        for line in f:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "META":
                key, _, value = rest.partition(" ")
                meta[key] = value
            elif kind == "RUN":
                run = dict(kv.split("=", 1) for kv in rest.split())
                runs.append(run)
    return meta, runs


def summary(values, digits=0, unit=""):
    return fmt_span(values, digits=digits, unit=unit) if values else "–"


def main():
    meta, runs = parse(sys.argv[1])
    groups = defaultdict(list)
    for r in runs:
        secs = float(r["secs"])
        hz = float(r["hz"])
        rps = float(r["rps"])
        groups[(r["kind"], r["server"], int(r["conns"]))].append(
            {
                "rps": rps,
                "server_cpu": 100 * int(r["server_ticks"]) / hz / secs,
                "wrk_cpu": 100 * int(r["wrk_ticks"]) / hz / secs,
                # Segments sent by both ends over the window, per request at wrk's rate.
                "segs": int(r["segments"]) / (rps * secs) if rps else 0.0,
            }
        )

    def col(key, name):
        return [x[name] for x in groups.get(key, [])]

    out = []
    w = out.append
    w("# The API scenario's bounds on this machine (issue 4, item 2)")
    w("")
    w(
        "Written by `bench/api/bounds_report.py` from the raw file of `bench/api/bounds.sh`: "
        f"{meta.get('rounds', '?')} rounds of {meta.get('dur', '?')} s wrk runs, a fresh server per run. "
        "No number on this page is typed by hand."
    )
    w("")
    w("## Machine")
    w("")
    for key in ("date", "commit", "cpu", "kernel", "nginx", "wrk", "scheduling", "load_start", "load_end"):
        if key in meta:
            w(f"- {key.replace('_', ' ')}: {meta[key]}")
    w("")
    w("## Commands")
    w("")
    rt = meta.get("scheduling", "nice -n -20")
    w(f"- scheduling of server and load: `{rt}`")
    w("- waiter: `RT taskset -c 1 delay_server PORT DELAY_MS` (DELAY_MS 0 for the ceiling, 20 for the scenario)")
    w("- nginx: `RT taskset -c 1 nginx -c bounds/nginx.conf` (one worker, no master, `return 200 \"ok\\n\"`)")
    w("- load: `RT taskset -c 0 wrk -t1 -cN -dDs --timeout 5s http://127.0.0.1:PORT/`")
    w("- CPU: utime+stime from /proc/PID/stat over a steady window (1 s after the start to 1 s before the end), % of one core")
    w("- segments: `nstat` TcpOutSegs over the same window (both ends, loopback), divided by wrk's average requests/s times the window's length")
    w("")
    w("## Results")
    w("")
    w("| what | server | connections | requests/s | server CPU | wrk CPU | TCP segments / request |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    names = {"ceiling": "no wait (ceiling)", "wait20": "20 ms wait (the scenario)"}
    for key in sorted(groups, key=lambda k: (k[2], k[0], k[1])):
        kind, server, conns = key
        w(
            f"| {names.get(kind, kind)} | {server} | {conns:,} | {summary(col(key, 'rps'))} | "
            f"{summary(col(key, 'server_cpu'), unit='%')} | {summary(col(key, 'wrk_cpu'), unit='%')} | "
            f"{summary(col(key, 'segs'), 2)} |"
        )
    w("")
    w("## What the bounds say about the targets")
    w("")
    for conns in (1000, 10000):
        ideal = conns / 0.020
        ceilings = {s: statistics.median(col(("ceiling", s, conns), "rps")) for s in ("waiter", "nginx") if col(("ceiling", s, conns), "rps")}
        scen = col(("wait20", "waiter", conns), "rps")
        if not ceilings or not scen:
            continue
        best = max(ceilings, key=ceilings.get)
        ceiling = ceilings[best]
        line = (
            f"- **{conns:,} connections:** the ideal is {ideal:,.0f} req/s. With no wait at all, the best server "
            f"here ({best}) made {ceiling:,.0f} req/s ({ceiling / ideal:.0%} of the ideal), with wrk at "
            f"{summary(col(('ceiling', best, conns), 'wrk_cpu'), unit='%')} of its core. "
            f"waiter with the 20 ms wait made {statistics.median(scen):,.0f} req/s "
            f"({statistics.median(scen) / ceiling:.0%} of that ceiling), at "
            f"{summary(col(('wait20', 'waiter', conns), 'segs'), 2)} TCP segments per request."
        )
        if conns == 1000:
            line += (
                f" The target, 90% of the ideal, is {0.9 * ideal:,.0f} req/s: "
                + ("above" if 0.9 * ideal > ceiling else "below")
                + " this ceiling."
            )
        w(line)
    w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
