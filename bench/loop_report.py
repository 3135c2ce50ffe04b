#!/usr/bin/env python3
"""Tabulates and plots the loop benchmarks: bench/loop.sh's raw output in, loop.md and SVGs out.

    python3 bench/loop_report.py RAW_FILE OUT_DIR

RAW_FILE holds the lines the benches print (`RESULT <scenario> <impl> <ns per op>`, `INFO ...`)
and the ones bench/loop.sh adds (`META <key> <value>`, `CMD <command line>`). Writes
OUT_DIR/loop.md (medians with min and max, ratios, targets, commands, machine),
OUT_DIR/tick_cost.svg (ns per tick against idle descriptors, log-log) and
OUT_DIR/loop_ratios.svg (how many times faster waiter is than each other runtime).
Standard library only; the SVG is written by hand.
"""

import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from plot import esc, line_chart

# Each row: scenario id, what is counted, and who must be beaten by how much. A ratio is
# (the other's median time per op) / (waiter's median time per op): above 1, waiter is faster.
ROWS = [
    ("million_timers", "timer", "min(tokio, libuv)"),
    ("million_timers/sleep_tasks", "timer", None),
    ("timer_cancel", "timer", "min(tokio, libuv)"),
    ("next_tick", "callback", None),
    ("immediate", "callback", None),
    ("spawn_await", "task", "tokio"),
    ("spawn_await/one_by_one", "task", "tokio"),
    ("tcp_ping_pong", "round trip", "tokio"),
    ("tcp_ping_pong/watch", "round trip", None),
]

PAIRING = {
    "million_timers": "waiter `set_timeout(1 ms, cb)` ×1M then `run()`; libuv `uv_timer_init` + "
    "`uv_timer_start(1 ms)` ×1M then `uv_run`; tokio has no callback timer, so its column is "
    "the `sleep_tasks` run (a `spawn_local` task per `sleep`).",
    "million_timers/sleep_tasks": "waiter `spawn(async { sleep(1 ms).await })` ×1M; tokio "
    "`spawn_local(async { tokio::time::sleep(1 ms).await })` ×1M in a `LocalSet`.",
    "timer_cancel": "waiter `set_timeout` ×1M then `clear()` each; tokio `Box::pin(sleep(1 ms))` "
    "×1M polled once (registers it) then dropped (deregisters), no tasks; libuv init + start + "
    "`uv_timer_stop` ×1M.",
    "next_tick": "a callback queueing the next, 1M deep: waiter `next_tick`; tokio a trivial "
    "`spawn_local` task spawning the next; libuv has no such queue.",
    "immediate": "a callback queueing the next, 1M deep, one per loop iteration: waiter "
    "`set_immediate`; tokio `yield_now().await` in a loop; libuv `uv_check` + `uv_idle` "
    "(Node's `setImmediate` recipe). Each costs one zero-timeout `epoll_wait`.",
    "spawn_await": "1M trivial tasks spawned from the main future, then awaited in turn: "
    "waiter `lp.spawn` in `block_on`; tokio `spawn_local` in `LocalSet::block_on`.",
    "spawn_await/one_by_one": "as `spawn_await`, but each task is awaited before the next is "
    "spawned.",
    "tcp_ping_pong": "one 127.0.0.1 connection, both ends on one loop, 100k round trips of 64 "
    "bytes, the server a task echoing, the client the main future: waiter `waiter_loop::net::TcpStream` (`read` / `write_all`); tokio `TcpStream` tasks (`read` / `write_all`); libuv `uv_tcp_t` "
    "streams (`uv_read_start` / `uv_write`).",
    "tcp_ping_pong/watch": "the same over raw non-blocking descriptors: waiter `lp.watch(fd, "
    "READABLE, cb)`; libuv `uv_poll_t`.",
}

IMPLS = ["waiter", "tokio", "libuv"]

# Cells measured once and shown in two rows: tokio has no callback timer.
FALLBACK = {("million_timers", "tokio"): "million_timers/sleep_tasks"}

NOTES_MARKER = "<!-- Notes: written by hand, kept when bench/loop_report.py rewrites this file. -->"


def parse(path):
    results = defaultdict(list)  # (scenario, impl) -> [ns per op]
    info, meta, cmds = [], {}, []
    for line in Path(path).read_text().splitlines():
        parts = line.split(" ", 1)
        if parts[0] == "RESULT":
            scenario, impl, ns = parts[1].split()
            results[(scenario, impl)].append(float(ns))
        elif parts[0] == "INFO":
            if parts[1] not in info:  # every process of a benchmark prints its own
                info.append(parts[1])
        elif parts[0] == "META":
            key, _, value = parts[1].partition(" ")
            meta[key] = value
        elif parts[0] == "CMD":
            cmds.append(parts[1])
    return results, info, meta, cmds


def lookup(results, scenario, impl):
    values = results.get((scenario, impl), [])
    if not values and (scenario, impl) in FALLBACK:
        values = results.get((FALLBACK[(scenario, impl)], impl), [])
    return values


def med(values):
    return statistics.median(values) if values else None


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def cell(values):
    if not values:
        return "—"
    return f"{fmt_ns(med(values))} ({fmt_ns(min(values))}–{fmt_ns(max(values))})"


def ratio(other, waiter):
    if not other or not waiter:
        return None
    return med(other) / med(waiter)


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def main_table(results):
    lines = [
        "| scenario | per | waiter | tokio | libuv | waiter ops/s | tokio ÷ waiter | libuv ÷ waiter | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for scenario, unit, target in ROWS:
        got = {i: lookup(results, scenario, i) for i in IMPLS}
        if not got["waiter"]:
            continue
        r_tokio, r_libuv = ratio(got["tokio"], got["waiter"]), ratio(got["libuv"], got["waiter"])
        goal, met = "—", "—"
        if target == "tokio" and r_tokio is not None:
            goal, met = "≥ 1.0× tokio", "yes" if r_tokio >= 1.0 else f"**no** ({r_tokio:.2f}×)"
        elif target and target.startswith("min"):
            present = [r for r in (r_tokio, r_libuv) if r is not None]
            if present:
                worst = min(present)
                goal = "≥ 1.0× the faster of tokio, libuv"
                met = "yes" if worst >= 1.0 else f"**no** ({worst:.2f}×)"
        if goal != "—":
            verdicts.append((scenario, goal, met))
        ops = 1e9 / med(got["waiter"])
        ops_s = f"{ops / 1e6:.2f} M" if ops >= 1e6 else f"{ops / 1e3:.1f} k"
        lines.append(
            f"| `{scenario}` | {unit} | {cell(got['waiter'])} | {cell(got['tokio'])} | "
            f"{cell(got['libuv'])} | {ops_s} | {fmt_ratio(r_tokio)} | {fmt_ratio(r_libuv)} | "
            f"{goal} | {met} |"
        )
    return lines, verdicts


def tick_sizes(results):
    return sorted({int(s.split("/")[1]) for (s, _) in results if s.startswith("tick_cost/")})


def tick_table(results):
    sizes = tick_sizes(results)
    lines = [
        "| idle N | waiter epoll | waiter poll | libuv (epoll) | poll ÷ epoll | epoll(N) ÷ epoll(100) |",
        "|---|---|---|---|---|---|",
    ]
    base = med(results.get(("tick_cost/100", "epoll"), []))
    for n in sizes:
        e, p, u = (results.get((f"tick_cost/{n}", i), []) for i in ("epoll", "poll", "libuv"))
        growth = f"{med(e) / base:.2f}×" if e and base else "—"
        lines.append(
            f"| {n:,} | {cell(e)} | {cell(p)} | {cell(u)} | {fmt_ratio(ratio(p, e))} | {growth} |"
        )
    verdict = None
    if sizes and base:
        top = sizes[-1]
        growth = med(results[(f"tick_cost/{top}", "epoll")]) / base
        met = "yes" if growth <= 1.5 else f"**no** ({growth:.2f}×)"
        verdict = (f"tick_cost epoll at {top:,} vs 100", "≤ 1.5×" + ("" if top >= 50000 else f" (own descriptors up to {top:,}; 50,000 in tick_cost_50k.md)"), met)
    return lines, verdict


# ---- SVG, by hand ----

COLORS = {"epoll": "#1f77b4", "poll": "#d62728", "libuv": "#2ca02c", "tokio": "#ff7f0e"}
LABELS = {"epoll": "waiter, epoll", "poll": "waiter, poll(2)", "libuv": "libuv (epoll)"}


def tick_svg(results, path):
    sizes = tick_sizes(results)
    if not sizes:
        return
    series = [(LABELS[impl], COLORS[impl], [(n, results.get((f"tick_cost/{n}", impl), [])) for n in sizes])
              for impl in ("epoll", "poll", "libuv")]
    # The seed's claim names 50,000 descriptors: keep it on the axis even when it did not fit.
    wanted = 50000
    marks = [] if wanted in sizes else [(wanted, "not measured: RLIMIT_NOFILE")]
    line_chart(path, "Cost of one loop iteration: 1 active + N idle sockets",
               "idle descriptors registered (log scale)", "time per iteration, median (log scale)", series,
               fmt_y=lambda v: axis_ns(round(math.log10(v))), marks=marks)


def axis_ns(exp):
    """A round label for 10**exp nanoseconds: 1 µs, 10 µs, 100 µs, 1 ms, ..."""
    for unit, scale in (("s", 9), ("ms", 6), ("µs", 3), ("ns", 0)):
        if exp >= scale:
            return f"{10 ** (exp - scale)} {unit}"
    return f"{10.0**exp:g} ns"


def ratio_svg(results, path):
    """Diverging bars on a log2 axis: right of 1× waiter is faster, left slower."""
    bars = []
    for scenario, _, _ in ROWS:
        w, t, u = (lookup(results, scenario, i) for i in IMPLS)
        if w:
            bars.append((scenario, ratio(t, w), ratio(u, w)))
    if not bars:
        return
    width, left, right, top, row = 720, 190, 50, 50, 34
    height = top + row * len(bars) + 50
    pw = width - left - right
    present = [r for _, a, b in bars for r in (a, b) if r is not None]
    # Room for the value labels at both ends.
    lo = 2.0 ** min(-1, math.floor(math.log2(min(present) * 0.8)))
    hi = 2.0 ** max(1, math.ceil(math.log2(max(present) * 1.25)))

    def px(r):
        return left + (math.log2(r) - math.log2(lo)) / (math.log2(hi) - math.log2(lo)) * pw

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">'
        "Other runtime's median time ÷ waiter's (log scale)</text>",
        f'<rect x="{left}" y="28" width="10" height="10" fill="{COLORS["tokio"]}"/>'
        f'<text x="{left + 14}" y="37">vs tokio</text>',
        f'<rect x="{left + 90}" y="28" width="10" height="10" fill="{COLORS["libuv"]}"/>'
        f'<text x="{left + 104}" y="37">vs libuv</text>',
    ]
    r = lo
    while r <= hi * 1.0001:
        x = px(r)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + row * len(bars)}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + row * len(bars) + 16}" text-anchor="middle">{r:g}×</text>')
        r *= 2
    x1 = px(1.0)
    for i, (scenario, rt, ru) in enumerate(bars):
        y = top + i * row
        out.append(f'<text x="{left - 8}" y="{y + row / 2 + 4}" text-anchor="end">{esc(scenario)}</text>')
        for j, (rv, c) in enumerate(((rt, COLORS["tokio"]), (ru, COLORS["libuv"]))):
            if rv is None:
                continue
            by, x = y + 5 + j * 12, px(rv)
            out.append(f'<rect x="{min(x, x1):.1f}" y="{by}" width="{abs(x - x1):.1f}" height="11" fill="{c}"/>')
            anchor, dx = ("start", 4) if rv >= 1 else ("end", -4)
            out.append(f'<text x="{x + dx:.1f}" y="{by + 10}" font-size="10" text-anchor="{anchor}">{rv:.2f}×</text>')
    out.append(
        f'<line x1="{x1:.1f}" y1="{top - 4}" x2="{x1:.1f}" y2="{top + row * len(bars)}" stroke="#000"/>'
    )
    out.append(f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle" font-size="11">'
               "right of 1×: waiter is faster; left: slower</text>")
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n")


def report(raw, out_dir):
    results, info, meta, cmds = parse(raw)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tick_svg(results, out_dir / "tick_cost.svg")
    ratio_svg(results, out_dir / "loop_ratios.svg")
    table, verdicts = main_table(results)
    ticks, tick_verdict = tick_table(results)
    if tick_verdict:
        verdicts.append(tick_verdict)
    runs = sorted({len(v) for v in results.values()})
    busy = meta.get("busy", "")
    md = ["# Loop benchmarks: waiter vs tokio (current_thread) vs libuv", ""]
    if busy:
        md += [f"> **Preliminary**: {busy}", ""]
    md += [
        f"Generated by `bench/loop.sh` on {meta.get('date', '?')} at commit `{meta.get('commit', '?')}`. "
        f"Every number is the median of {', '.join(map(str, runs))} runs per implementation "
        "(each benchmark process first runs one unreported warm-up round; `tick_cost` instead warms every run up with 50 ticks), with the min–max range in "
        "brackets; lower is better. Ratios divide the other runtime's median time per operation "
        "by waiter's: **above 1.0× waiter is faster**.",
        "",
        "## Results",
        "",
        *table,
        "",
        "## Targets",
        "",
        "| target | goal | met |",
        "|---|---|---|",
        *[f"| {s} | {g} | {m} |" for s, g, m in verdicts],
        "",
        "## tick_cost: one iteration with 1 active and N idle sockets",
        "",
        "![tick cost against N, log-log](tick_cost.svg)",
        "",
        *ticks,
        "",
        "Idle sockets are Unix socket pairs with both ends watched for readability; the active "
        "one is registered last, so under poll(2) the kernel walks (and queues a wait entry on) "
        "every idle descriptor before it reaches the ready one, which is poll's worst case.",
        "",
    ]
    if info:
        md += ["Descriptor limit, as the bench saw it:", "", "```", *info, "```", ""]
    md += [
        "![ratios](loop_ratios.svg)",
        "",
        "## What each side does",
        "",
    ]
    for scenario, _, _ in ROWS:
        md.append(f"- `{scenario}`: {PAIRING[scenario]}")
    md += [
        "",
        "All three run on one thread pinned to one core (`taskset -c "
        f"{meta.get('cpu', '1')}`); tokio is a `current_thread` runtime with `enable_all` (as "
        "`#[tokio::main(flavor = \"current_thread\")]`). The benchmark programs are "
        "`crates/waiter-loop/benches/*.rs` and `bench/libuv/*.c`; their module comments say "
        "exactly what is timed.",
        "",
        "## Machine",
        "",
        f"- CPU: {meta.get('cpu_model', '?')}, `nproc` = {meta.get('nproc', '?')}",
        f"- kernel: {meta.get('kernel', '?')}",
        f"- rustc: {meta.get('rustc', '?')}; tokio {meta.get('tokio', '?')}; libuv {meta.get('libuv', '?')}; cc: {meta.get('cc', '?')}",
        f"- load average before / after: {meta.get('load_before', '?')} / {meta.get('load_after', '?')}",
        f"- other CPU's use during the run (cpu{meta.get('other_cpu', '0')}, not ours): {meta.get('other_cpu_busy', '?')}",
        "",
        "## Commands",
        "",
        "```",
        *cmds,
        "```",
        "",
    ]
    # Hand-written analysis below the marker survives regeneration.
    old = out_dir / "loop.md"
    kept = old.read_text().split(NOTES_MARKER, 1) if old.exists() else []
    md += [NOTES_MARKER, kept[1].strip("\n") if len(kept) == 2 else "", ""]
    old.write_text("\n".join(md))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    report(sys.argv[1], sys.argv[2])
