#!/usr/bin/env python3
"""Result pages of bench/run (issue 4): every number comes from a raw file, none is typed.

  report.py meta                     print "META key value" lines describing this machine now
  report.py api RAW OUT_DIR          bench/api/run.sh's raw file -> api.md, threads.md, api_*.svg
  report.py timers RAW OUT_DIR       bench/timers/run.sh's raw file -> timers.md
  report.py report RUNRAW OUT_DIR    bench/run's raw file -> REPORT.md (includes the pages above
                                     and bench/results/serve.md, loop.md)

Ratios are computed round by round (the same round's runs of the two servers), then summarised
as median [min-max]; a figure whose max/min exceeds 1.3 over the rounds is flagged noisy.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plot import line_chart  # noqa: E402
from serve_report import NOISY, fmt_num, fmt_span, med, parse_wrk, spread, verdict  # noqa: E402

SERVERS = ["waiter", "node", "thread"]
NAMES = {"waiter": "waiter (`waiter_http::app`, 1 thread)", "node": "Node.js (`http`, 1 process)",
         "thread": "thread per connection (std)"}
COLORS = {"waiter": "#1f77b4", "node": "#2ca02c", "thread": "#d62728"}
# Targets of issue 4, item 2.
T_IDEAL_1K = 0.90  # waiter's requests/s at 1,000 connections, fraction of connections / 20 ms
T_P99_1K = 0.030  # s
T_VS_NODE_10K = 3.0  # requests/s, x Node's, at 10,000 connections
T_VS_THREAD_10K = 2.0  # requests/s, x the thread-per-connection server's
T_RSS_VS_NODE_10K = 0.25  # RSS, fraction of Node's
# What the seed (as quoted by issue 4) says was measured with wrk -t1.
SEED = {
    ("node", 1000): "15–26k req/s, p99 350–700 ms, ~96 MB",
    ("node", 10000): "15–21k req/s, ~135 MB",
    ("thread", 1000): "27–29k req/s, 16 MB",
    ("thread", 10000): "27–29k req/s, 83 MB (did not collapse)",
}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def meta():
    """The machine as it is now, one "META key value" line each (also used for bench/run)."""
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    osname = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                   if l.startswith("PRETTY_NAME=")), "?")
    dirty = "" if sh("git diff --quiet HEAD -- crates bench Cargo.toml Cargo.lock; echo $?") == "0" \
        else " (+ uncommitted changes)"
    lines = {
        "date": sh("date -u +%Y-%m-%dT%H:%M:%SZ"), "cpu": cpu, "nproc": str(os.cpu_count()),
        "mem": f"{mem / 1048576:.1f} GiB", "kernel": platform.release(), "os": osname,
        "waiter_rev": sh("git rev-parse --short HEAD") + dirty, "rustc": sh("rustc -V"),
        "node": sh("node --version"), "wrk": sh("wrk -v 2>&1 | head -1"), "ulimit_n": sh("ulimit -Hn"),
        "load": " ".join(open("/proc/loadavg").read().split()[:3]),
        "top": sh("ps -eo pcpu,comm --sort=-pcpu --no-headers | head -5 | awk '{printf \"%s %s%%; \", $2, $1}'"),
    }
    for k, v in lines.items():
        print(f"META {k} {v}")


def read_raw(path):
    """A raw file's lines: META key value -> metas; CMD name command and xxxCMD command -> cmds
    (by name, or by tag); every other line -> records[tag], the rest of the line."""
    metas, cmds, records = {}, {}, defaultdict(list)
    for line in open(path):
        tag, _, rest = line.rstrip("\n").partition(" ")
        if tag in ("META", "CMD"):
            k, _, v = rest.partition(" ")
            (metas if tag == "META" else cmds)[k] = v
        elif tag.endswith("CMD"):
            cmds[tag] = rest
        else:
            records[tag].append(rest)
    return metas, cmds, records


def machine_lines(m, keys=None):
    labels = [("date", "date (UTC)"), ("cpu", "CPU"), ("nproc", "cores"), ("mem", "memory"),
              ("kernel", "kernel"), ("os", "OS"), ("waiter_rev", "waiter"), ("rustc", "rustc"),
              ("node", "Node.js"), ("wrk", "wrk"), ("ulimit_n", "RLIMIT_NOFILE (hard)"),
              ("load", "load average at start"), ("top", "top CPU users at start"),
              ("load_start", "load average at start"), ("top_start", "top CPU users at start"),
              ("load_end", "load average at end"), ("top_end", "top CPU users at end")]
    return [f"- {label}: {m[k]}" for k, label in labels if k in m and (keys is None or k in keys)]


# ---- the API scenario --------------------------------------------------------------------
def parse_load(path):
    """`waiter load --json` output, in wrk's keys."""
    try:
        j = json.loads(open(path).read())
    except (OSError, ValueError):
        return None
    errors = sum(j.get("errors", {}).values())
    return {"requests": j["requests"], "rps": j["rps"], "p50": j["latency_us"]["p50"] / 1e6,
            "p99": j["latency_us"]["p99"] / 1e6, "errors": str(errors) if errors else "", "non2xx": 0}


def parse_run(fields, hz):
    tool, r, c, s, cpu, busy1, wall, rss, hwm, thr, load, f = fields
    if tool == "wrk":
        try:
            res = parse_wrk(f)
            m = re.search(r"^\s*50%\s+([\d.]+)(\w+)", res["text"], re.M)
            res["p50"] = float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)] if m else None
        except (AttributeError, KeyError, OSError):
            res = None
    else:
        res = parse_load(f)
    cpu_s = int(cpu) / hz
    return dict(tool=tool, round=int(r), c=int(c), server=s, cpu_s=cpu_s, wall=float(wall),
                other1=max(0.0, (int(busy1) - int(cpu)) / hz / float(wall)), rss=int(rss) * 1024,
                hwm=int(hwm) * 1024, threads=int(thr), load=float(load), res=res)


def mb(b):
    return b / 1048576


def fmt_ms(xs):
    xs = [x for x in xs if x is not None]
    return fmt_span(xs, lambda v: v * 1000, 1, " ms") if xs else "–"


def noisy(xs):
    xs = [x for x in xs if x]
    return " ⚠" if xs and spread(xs) > NOISY else ""


def api(raw, out_dir):
    m, cmds, records = read_raw(raw)
    rows = [r.split(" ") for r in records["RUN"]]
    hz = int(m.get("clk_tck", "100"))
    delay = int(m.get("delay_ms", "20")) / 1000
    runs = [parse_run(f, hz) for f in rows]
    conns = sorted({r["c"] for r in runs})
    by = defaultdict(list)  # (tool, c, server) -> runs
    for r in runs:
        by[(r["tool"], r["c"], r["server"])].append(r)

    def vals(tool, c, s, key):
        out = []
        for r in by[(tool, c, s)]:
            if key in ("rps", "p50", "p99", "requests"):
                v = r["res"][key] if r["res"] else None
            else:
                v = r[key]
            if v is not None:
                out.append(v)
        return out

    def ratios(tool, c, a, b, key, invert=False):
        out = []
        for ra in by[(tool, c, a)]:
            rb = next((x for x in by[(tool, c, b)] if x["round"] == ra["round"]), None)
            if not rb:
                continue
            va = ra["res"][key] if key in ("rps", "p99") and ra["res"] else ra.get(key)
            vb = rb["res"][key] if key in ("rps", "p99") and rb["res"] else rb.get(key)
            if va and vb:
                out.append(vb / va if invert else va / vb)
        return out

    L = []
    w = L.append
    mode = m.get("mode", "?")
    w("# The API scenario: waiter vs Node.js vs thread-per-connection (issue 4, items 1 and 2)")
    w("")
    w(f"Written by `bench/report.py api` from the raw file of `{m.get('command', 'bench/api/run.sh')}`"
      f" — **{mode} mode**: {m.get('rounds')} rounds of {m.get('duration')} runs per server and"
      " connection count, a fresh server per run, servers in an order that rotates every round."
      " No number on this page is typed by hand.")
    w("")
    w(f"Every request is answered after a {delay * 1000:.0f} ms wait (a timer standing in for the"
      " database), with identical response bytes from the three servers (99 bytes: head + `ok\\n`;"
      " only the `Date` differs). The ideal is connections / 20 ms requests/s, bounded by what one"
      " core can do.")
    w("")
    w("## Machine and noise")
    w("")
    L.extend(machine_lines(m))
    rt = m.get("rt", "none")
    if rt.startswith("chrt"):
        w(f"- scheduling: server and load generator run under `{rt}` (SCHED_FIFO), so that other"
          " sessions' CPU use on this shared 2-core machine does not sit in every wake-up; this"
          " understates Node, whose GC threads cannot preempt its busy main thread at equal FIFO"
          " priority on one CPU (Node 10.4–13.0k req/s at FIFO vs 15.7–19.6k at nice -20, side by"
          " side): its ratios on this page flatter waiter")
    else:
        w(f"- scheduling: server and load generator run under `{rt}` (normal scheduling; SCHED_FIFO"
          " is `BENCH_RT=fifo`, unfair to Node's helper threads: see bench/api/run.sh)")
    other = [r["other1"] for r in runs]
    loads = [r["load"] for r in runs]
    w(f"- CPU 1 (the servers' core) busy with other work during runs: {fmt_span(other, lambda v: v * 100, 0, '%')}"
      f" (median [min–max]); 1-minute load average after runs: {fmt_span(loads, digits=2)}")
    w("")
    w("## Commands")
    w("")
    for s in SERVERS:
        if s in cmds:
            w(f"- {s}: `{cmds[s]}`")
    w(f"- load, wrk: `{cmds.get('WRKCMD', '?')}`")
    if any(r["tool"] == "load" for r in runs):
        w(f"- load, waiter load (at some connection counts, next to wrk): `{cmds.get('LOADCMD', '?')}`")
    w("- RSS and threads: `VmRSS` and `Threads` of /proc/PID/status at 80% of the run (under load);"
      " peak: `VmHWM` at the end; CPU: utime+stime of /proc/PID/stat over the run")
    w("")
    w("## Results (wrk)")
    w("")
    w("Median [min–max] of the rounds; ⚠: max/min > 1.3 (noisy).")
    w("")
    w("| connections | server | requests/s | of ideal | p50 | p99 | RSS under load | peak RSS | threads |"
      " server CPU-s | requests / CPU-s | errors |")
    w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for c in conns:
        ideal = c / delay
        for s in SERVERS:
            rs = by[("wrk", c, s)]
            if not rs:
                continue
            rps = vals("wrk", c, s, "rps")
            errs = "; ".join(sorted({r["res"]["errors"] for r in rs if r["res"] and r["res"]["errors"]}))
            rpc = [r["res"]["requests"] / r["cpu_s"] for r in rs if r["res"] and r["cpu_s"] > 0]
            w(f"| {c:,} | {s} | {fmt_span(rps) if rps else '–'}{noisy(rps)} |"
              f" {fmt_num(med(rps) / ideal * 100) + '%' if rps else '–'} | {fmt_ms(vals('wrk', c, s, 'p50'))} |"
              f" {fmt_ms(vals('wrk', c, s, 'p99'))} | {fmt_span(vals('wrk', c, s, 'rss'), mb, 1, ' MB')} |"
              f" {fmt_span(vals('wrk', c, s, 'hwm'), mb, 1, ' MB')} | {fmt_num(med(vals('wrk', c, s, 'threads')))} |"
              f" {fmt_span(vals('wrk', c, s, 'cpu_s'), digits=1)} | {fmt_span(rpc) if rpc else '–'} |"
              f" {errs or '–'} |")
    w("")

    w("## Targets (issue 4)")
    w("")
    w("| target | measured | verdict |")
    w("| --- | --- | --- |")
    verdicts = []

    def row(name, xs, target, higher=True, fmt=lambda v: f"{v:.2f}"):
        if not xs:
            w(f"| {name} | not measured | – |")
            verdicts.append((name, None))
            return
        ok, text = verdict(med(xs), target, higher)
        verdicts.append((name, ok))
        w(f"| {name} | {fmt(med(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]{noisy(xs)} | {text} |")

    if 1000 in conns:
        row("1,000 connections: waiter ≥ 90% of the ideal (50,000 req/s)",
            [v / (1000 / delay) for v in vals("wrk", 1000, "waiter", "rps")], T_IDEAL_1K,
            fmt=lambda v: f"{v * 100:.0f}%")
        row("1,000 connections: waiter p99 ≤ 30 ms", vals("wrk", 1000, "waiter", "p99"), T_P99_1K, False,
            fmt=lambda v: f"{v * 1000:.1f} ms")
    if 10000 in conns:
        row("10,000 connections: waiter ≥ 3× Node's requests/s", ratios("wrk", 10000, "waiter", "node", "rps"),
            T_VS_NODE_10K, fmt=lambda v: f"{v:.2f}×")
        if by[("load", 10000, "waiter")] and by[("load", 10000, "node")]:
            # The same target by the second load generator: at 10,000 connections wrk -t1 can be
            # the bottleneck itself (bench/results/api_bounds.md gives its ceiling with no wait).
            row("10,000 connections: waiter ≥ 3× Node's requests/s, by `waiter load`",
                ratios("load", 10000, "waiter", "node", "rps"), T_VS_NODE_10K, fmt=lambda v: f"{v:.2f}×")
        row("10,000 connections: waiter ≥ 2× the thread server's requests/s",
            ratios("wrk", 10000, "waiter", "thread", "rps"), T_VS_THREAD_10K, fmt=lambda v: f"{v:.2f}×")
        row("10,000 connections: waiter's RSS ≤ 1/4 of Node's", ratios("wrk", 10000, "waiter", "node", "rss"),
            T_RSS_VS_NODE_10K, False, fmt=lambda v: f"{v:.2f}")
    w("")
    w("Ratios are taken round by round (waiter's run against the other server's run of the same"
      " round), then summarised as median [min–max].")
    w("")

    w("## The seed's figures next to ours")
    w("")
    w("| server | connections | the seed says (wrk -t1) | measured here: requests/s, p99, RSS under load |")
    w("| --- | ---: | --- | --- |")
    for (s, c), said in SEED.items():
        if by[("wrk", c, s)]:
            w(f"| {s} | {c:,} | {said} | {fmt_span(vals('wrk', c, s, 'rps'))}, {fmt_ms(vals('wrk', c, s, 'p99'))},"
              f" {fmt_span(vals('wrk', c, s, 'rss'), mb, 1, ' MB')} |")
    if by[("wrk", 10000, "thread")] and by[("wrk", 1000, "thread")]:
        a, b = med(vals("wrk", 1000, "thread", "rps")), med(vals("wrk", 10000, "thread", "rps"))
        word = "did not collapse" if b >= 0.5 * a else "collapsed"
        w("")
        w(f"At 10,000 connections the thread-per-connection server made {fmt_num(b)} req/s against"
          f" {fmt_num(a)} at 1,000 ({b / a * 100:.0f}%): it **{word}** here"
          f" ({fmt_num(med(vals('wrk', 10000, 'thread', 'threads')))} threads,"
          f" {fmt_num(mb(med(vals('wrk', 10000, 'thread', 'rss'))), 1)} MB resident).")
    w("")

    tools = sorted({r["tool"] for r in runs})
    if "load" in tools:
        w("## wrk and `waiter load` side by side")
        w("")
        w("The same servers measured by both load generators (each pinned to CPU 0), so a reader can"
          " judge the tool: requests/s and p99, median [min–max].")
        w("")
        w("| connections | server | wrk requests/s | waiter load requests/s | wrk p99 | waiter load p99 |")
        w("| ---: | --- | ---: | ---: | ---: | ---: |")
        for c in conns:
            for s in SERVERS:
                if by[("load", c, s)]:
                    lr = vals("load", c, s, "rps")
                    w(f"| {c:,} | {s} | {fmt_span(vals('wrk', c, s, 'rps'))} | {fmt_span(lr) if lr else '–'} |"
                      f" {fmt_ms(vals('wrk', c, s, 'p99'))} | {fmt_ms(vals('load', c, s, 'p99'))} |")
        w("")

    # Plots: RSS and p99 against connections.
    out = Path(out_dir)
    if len(conns) > 1:  # a curve needs two points; a run at one count (BENCH_CONNS) has none
        series_rss = [(NAMES[s].split(" (")[0], COLORS[s], [(c, [mb(v) for v in vals("wrk", c, s, "rss")])
                                                             for c in conns]) for s in SERVERS]
        series_p99 = [(NAMES[s].split(" (")[0], COLORS[s], [(c, [v * 1000 for v in vals("wrk", c, s, "p99")])
                                                             for c in conns]) for s in SERVERS]
        line_chart(out / "api_rss.svg", "Server RSS under load vs concurrent connections",
                   "keep-alive connections (log scale)", "VmRSS, MB (log scale)", series_rss,
                   fmt_y=lambda v: f"{v:g}")
        line_chart(out / "api_p99.svg", f"p99 latency (wrk) vs connections, {delay * 1000:.0f} ms per request",
                   "keep-alive connections (log scale)", "p99, ms (log scale)", series_p99,
                   fmt_y=lambda v: f"{v:g}")
        w("## Plots")
        w("")
        w("![RSS vs connections](api_rss.svg)")
        w("")
        w("![p99 vs connections](api_p99.svg)")
        w("")
    (out / "api.md").write_text("\n".join(L) + "\n")

    # threads.md: the thread-per-connection server against the loop (item 1).
    T = []
    t = T.append
    t("# Thread per connection vs the loop (issue 4, item 1)")
    t("")
    t(f"Written by `bench/report.py api` from the same runs as [api.md](api.md) ({mode} mode,"
      f" {m.get('rounds')} rounds of {m.get('duration')}); machine, commands and noise are described there."
      " Each server answers after a 20 ms wait.")
    t("")
    t("| connections | server | requests/s | p50 | p99 | RSS under load | threads | server CPU-s |")
    t("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in conns:
        for s in ("thread", "waiter"):
            if by[("wrk", c, s)]:
                rps = vals("wrk", c, s, "rps")
                t(f"| {c:,} | {s} | {fmt_span(rps)}{noisy(rps)} | {fmt_ms(vals('wrk', c, s, 'p50'))} |"
                  f" {fmt_ms(vals('wrk', c, s, 'p99'))} | {fmt_span(vals('wrk', c, s, 'rss'), mb, 1, ' MB')} |"
                  f" {fmt_num(med(vals('wrk', c, s, 'threads')))} | {fmt_span(vals('wrk', c, s, 'cpu_s'), digits=1)} |")
    t("")
    t("| connections | waiter ÷ thread, requests/s | thread ÷ waiter, RSS |")
    t("| ---: | ---: | ---: |")
    for c in conns:
        a, b = ratios("wrk", c, "waiter", "thread", "rps"), ratios("wrk", c, "thread", "waiter", "rss")
        if a:
            t(f"| {c:,} | {med(a):.2f}× [{min(a):.2f}–{max(a):.2f}] | {med(b):.1f}× [{min(b):.1f}–{max(b):.1f}] |")
    t("")
    t("![RSS vs connections](api_rss.svg)")
    t("")
    t("![p99 vs connections](api_p99.svg)")
    t("")
    (out / "threads.md").write_text("\n".join(T) + "\n")
    print(f"wrote {out / 'api.md'}, {out / 'threads.md'}", file=sys.stderr)


# ---- timers ---------------------------------------------------------------------------------
WAIT_RE = re.compile(r"^(\d+)\s+(epoll_\w+)\(\d+, \[.*?\], \d+, (\{tv_sec=(\d+), tv_nsec=(\d+)\}|-?\d+), "
                     r".*= (-?\d+).*<([\d.]+)>$")


def strace_waits(path):
    """The main thread's waits: (syscall, timeout in s or None for infinite, events, slept s)."""
    calls = defaultdict(list)
    for line in open(path):
        m = WAIT_RE.match(line.strip())
        if not m:
            continue
        pid, call, t, sec, nsec, ret, slept = m.groups()
        timeout = int(sec) + int(nsec) / 1e9 if sec is not None else (None if int(t) < 0 else int(t) / 1000)
        calls[int(pid)].append((call, timeout, int(ret), float(slept)))
    return calls[min(calls)] if calls else []


def fmt_timeout(t):
    if t is None:
        return "infinite"
    return "0" if t == 0 else f"{t * 1000:.3f} ms"


def timers(raw, out_dir):
    m, cmds, records = read_raw(raw)
    totals, straces = defaultdict(list), {}
    for rest in records["TOTAL"]:
        _, s, t = rest.split(" ")
        totals[s].append(float(t))
    for rest in records["STRACE"]:
        s, t, f = rest.split(" ")
        straces[s] = (float(t), strace_waits(f))
    L = []
    w = L.append
    w("# Timers: three sleeps awaited together, Node.js vs waiter (issue 4, item 5)")
    w("")
    w("Written by `bench/report.py timers` from the raw file of `bench/timers/run.sh`. The program is the"
      " second seed's `Promise.all([sleep(1000), sleep(2000), sleep(3000)])`; both should take 3 s, not 6,"
      " and sleep in the kernel between the timers.")
    w("")
    w("## Machine")
    w("")
    L.extend(machine_lines(m, {"date", "cpu", "nproc", "kernel", "os", "waiter_rev", "node", "load", "top"}))
    w("")
    w("## Commands")
    w("")
    w(f"- Node.js: `{cmds.get('node', '?')}`")
    w(f"- waiter: `{cmds.get('waiter', '?')}` (epoll backend)")
    w(f"- traced: `{cmds.get('STRACECMD', '?')}`; only the main thread's waits are listed"
      " (Node's worker threads block in their own waits for the whole run)")
    w("")
    w("## Total time (wall clock, process start to exit)")
    w("")
    w("| program | untraced: median [min–max] | under strace |")
    w("| --- | ---: | ---: |")
    for s in ("node", "waiter"):
        if totals[s]:
            traced = f"{straces[s][0]:.3f} s" if s in straces else "–"
            w(f"| {s} | {fmt_span(totals[s], digits=3, unit=' s')} ({len(totals[s])} runs) | {traced} |")
    w("")
    w("## The waits, side by side")
    w("")
    w("Each row is one call on the loop's thread, in order: the timeout the loop asked for, and how long"
      " the call actually slept (strace `-T`).")
    w("")
    a, b = straces.get("node", (0, []))[1], straces.get("waiter", (0, []))[1]
    w("| # | Node.js call | timeout | slept | waiter call | timeout | slept |")
    w("| ---: | --- | ---: | ---: | --- | ---: | ---: |")
    for i in range(max(len(a), len(b))):
        def cells(x):
            if i >= len(x):
                return "| | |"
            call, t, _, slept = x[i]
            return f"{call} | {fmt_timeout(t)} | {slept * 1000:.3f} ms"
        w(f"| {i + 1} | {cells(a)} | {cells(b)} |")
    w("")
    for s, x in (("Node.js", a), ("waiter", b)):
        long_waits = [c for c in x if c[1] is None or c[1] > 0]
        w(f"- {s}: {len(x)} waits on the main thread, {len(long_waits)} of them blocking"
          f" (timeout > 0), {len(x) - len(long_waits)} polls with timeout 0;"
          f" time asleep in them {sum(c[3] for c in x):.3f} s.")
    w("")
    w("Node's libuv passes `epoll_pwait` a timeout in whole milliseconds; waiter passes `epoll_pwait2`"
      " the next timer's distance in nanoseconds (see the timeout columns).")
    w("")
    Path(out_dir, "timers.md").write_text("\n".join(L) + "\n")
    print(f"wrote {Path(out_dir, 'timers.md')}", file=sys.stderr)


# ---- REPORT.md ------------------------------------------------------------------------------
def include(path, skip_title=True):
    """A result page's lines with its headings one level deeper (code blocks left alone)."""
    out, fence = [], False
    for i, line in enumerate(Path(path).read_text().splitlines()):
        if line.startswith("```"):
            fence = not fence
        if i == 0 and skip_title and line.startswith("# "):
            continue
        out.append("#" + line if line.startswith("#") and not fence else line)
    return out


def page_date(path):
    m = re.search(r"date \(UTC\): (\S+)", Path(path).read_text()) if Path(path).exists() else None
    if m:
        return m.group(1)
    committed = sh(f"git log -1 --format=%cd --date=iso-strict -- '{path}'")
    return f"committed {committed}" if committed else "unknown date"


def targets_table(path):
    """The table under a page's first "## Targets" heading, as written by its own script."""
    rows, inside = [], False
    for line in Path(path).read_text().splitlines() if Path(path).exists() else []:
        if line.startswith("## Targets"):
            inside = True
        elif inside and line.startswith("|"):
            rows.append(line)
        elif inside and rows:
            break
    return rows


def report(raw, out_dir):
    m, _, records = read_raw(raw)
    steps = []
    for rest in records["STEP"]:
        name, status, secs, cmd = rest.split(" ", 3)
        steps.append((name, status, int(secs), cmd))
    ran = {name: status for name, status, _, _ in steps}
    out = Path(out_dir)
    quick = m.get("mode") == "quick"
    L = []
    w = L.append
    w("# waiter: the seeds' claims, measured (issue 4)")
    w("")
    w(f"Written by `bench/report.py report` at the end of `{m.get('command', 'bench/run')}`"
      f" (**{m.get('mode', '?')} mode**). Every number below was written by a script from raw results;"
      " none is typed by hand. Each figure is the median of at least 3 runs with [min–max]; ⚠ flags"
      " max/min > 1.3.")
    w("")
    w("## Machine")
    w("")
    start = {k[6:]: v for k, v in m.items() if k.startswith("start_")}
    end = {k[4:]: v for k, v in m.items() if k.startswith("end_")}
    L.extend(machine_lines(start))
    if end:
        w(f"- load average at end: {end.get('load', '?')}")
        w(f"- top CPU users at end: {end.get('top', '?')}")
    w("- the machine is shared with other sessions (compilers, fuzzers, test suites); each page below"
      " records the load and the other CPU use during its own runs")
    w("")
    w("## Steps and exact commands")
    w("")
    w("| step | command | status | time |")
    w("| --- | --- | --- | ---: |")
    for name, status, secs, cmd in steps:
        w(f"| {name} | `{cmd}` | {status} | {secs // 60}m{secs % 60:02d}s |")
    w("")
    w("Every measuring step ran under `flock /tmp/waiter-bench.lock`, servers pinned to CPU 1 and load"
      " generators to CPU 0 (`taskset`).")
    w("")
    w("## Targets at a glance")
    w("")
    for title, page in (("1–2. API scenario", "api.md"),
                        ("1–2, 10,000 connections only, more rounds (`BENCH_CONNS=10000 bench/api/run.sh 5`;"
                         " not part of bench/run, shown when present)", "api_10k.md"),
                        ("3. Loop benchmarks, epoll vs poll", "loop.md"), ("4. Static files", "serve.md")):
        rows = targets_table(out / page)
        if rows:
            w(f"**{title}** ([{page}]({page}), dated {page_date(out / page)})")
            w("")
            L.extend(rows)
            w("")
    sections = [
        ("1. Thread per connection vs the loop", "threads.md", "api", None),
        ("2. The API scenario: waiter vs Node.js vs thread per connection", "api.md", "api", None),
        ("2b. The API scenario's bounds on this machine", "api_bounds.md", "bounds",
         "What the box does at all for the API exchange with no wait (waiter and nginx): the"
         " 1,000-connection ideal of section 2 is judged against this ceiling."),
        ("3. epoll vs poll(2): the cost of one loop iteration", "loop.md", "loop",
         "The seed speaks of 50,000 descriptors; this machine's RLIMIT_NOFILE hard limit is"
         f" {start.get('ulimit_n', '20000')} (no CAP_SYS_RESOURCE to raise it), so this bench, which owns"
         " every descriptor it watches, stops below 20,000. `bench/tick_cost_50k.sh` reaches 50,000 by"
         " holding the idle sockets' open files in forked children: [tick_cost_50k.md](tick_cost_50k.md)."),
        ("4. Static files: waiter serve vs nginx, h2o and lighttpd", "serve.md", "serve", None),
        ("5. Timers: three sleeps, Node.js vs waiter", "timers.md", "timers", None),
    ]
    for title, page, step, note in sections:
        w(f"## {title}")
        w("")
        path = out / page
        if not path.exists():
            w(f"Not measured: `{page}` is missing (step `{step}` {ran.get(step, 'not run')}).")
            w("")
            continue
        if step not in ran:
            w(f"*Not re-run by this {'quick ' if quick else ''}run: from the last run of its script,"
              f" dated {page_date(path)} (full page: [{page}]({page})).*")
        elif ran[step] != "ok":
            w(f"*Step `{step}` did not complete in this run (failed, or stopped while waiting for the bench"
              f" lock): the page below is from the last run of its script, dated {page_date(path)}.*")
        elif re.match(r"\d{4}-", page_date(path)) and page_date(path) > end.get("date", "9"):
            # A page re-measured by its own script after this run: the newer page is the one shown.
            w(f"*Re-measured by its own script after this run, dated {page_date(path)}: the page below is that"
              f" newer run, not this one's (full page: [{page}]({page})).*")
        else:
            w(f"*Measured by this run (full page: [{page}]({page})).*")
        w("")
        if note:
            w(note)
            w("")
        L.extend(include(path))
        w("")
    (out / "REPORT.md").write_text("\n".join(L) + "\n")
    print(f"wrote {out / 'REPORT.md'}", file=sys.stderr)


def main():
    a = sys.argv[1:]
    if a == ["meta"]:
        meta()
    elif len(a) == 3 and a[0] == "api":
        api(a[1], a[2])
    elif len(a) == 3 and a[0] == "report":
        report(a[1], a[2])
    elif len(a) == 3 and a[0] == "timers":
        timers(a[1], a[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
