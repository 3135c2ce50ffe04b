#!/usr/bin/env python3
"""Helpers of bench/serve.sh.

  serve_report.py idle PORT N PATH "PID..."   open N keep-alive connections, one GET PATH on
      each, keep them idle; prints "rss_before_kB rss_after_kB opened alive" (VmRSS summed
      over the PIDs, before any connection and after all are open and idle for 1 s)
  serve_report.py report RAW OUT.md           write the results page from serve.sh's raw file

Every number in the page comes from RAW. The best anchor of a scenario and metric is the anchor
with the best median over the rounds; the verdict is waiter's median over that anchor's median
(the issue's "medians of >= 3 runs"). Beside it: the same anchor round by round (paired), and the
strictest reading, waiter against whichever anchor was best in each round (biased against
waiter: the best of three noisy runs is above every anchor's typical run).
"""
import re
import selectors
import socket
import statistics
import sys
import time

ANCHORS = ["nginx", "h2o", "lighttpd"]
SERVERS = ["waiter"] + ANCHORS
# Targets from issue 3, "Benchmarks".
T_CPU_RATIO = 1.2  # requests per server CPU-second, x best anchor (1 KiB)
T_RPS_RATIO = 1.0  # requests/s, x best anchor (1 KiB)
T_P99_RATIO = 1.0  # p99 <= best anchor's (1 KiB)
T_BPS_RATIO = 1.0  # bytes/s, x best anchor (100 KiB, 10 MiB)
T_RSS_PER_CONN = 256  # bytes of RSS per idle keep-alive connection
T_SYSCALLS = 2.2  # syscalls per keep-alive 1 KiB request
NOISY = 1.3  # flag max/min above this


# ---- idle connections -------------------------------------------------------------------
def vmrss_kb(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def idle(port, n, path, pids):
    pids = pids.split()
    before = vmrss_kb(pids)
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    done, pending, started = [], 0, 0
    window = 256

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, {"buf": b"", "need": None})

    while len(done) < n:
        while pending < window and started < n:
            open_one()
            pending += 1
            started += 1
        for key, ev in sel.select(timeout=10):
            s, st = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect failed after {len(done)} connections")
                s.send(req)
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            chunk = s.recv(65536)
            if not chunk:
                raise OSError(f"server closed a connection after {len(done)} connections")
            st["buf"] += chunk
            if st["need"] is None and b"\r\n\r\n" in st["buf"]:
                head, _, _ = st["buf"].partition(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                st["need"] = len(head) + 4 + int(m.group(1))
            if st["need"] is not None and len(st["buf"]) >= st["need"]:
                sel.unregister(s)
                done.append(s)
                pending -= 1
    time.sleep(1)
    after = vmrss_kb(pids)
    # a connection the server closed would be readable (EOF): count those still idle
    chk = selectors.DefaultSelector()
    for s in done:
        chk.register(s, selectors.EVENT_READ)
    closed = len(chk.select(timeout=0))
    print(before, after, len(done), len(done) - closed)
    for s in done:
        s.close()


# ---- report -----------------------------------------------------------------------------
UNITS_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
UNITS_T = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk(path):
    text = open(path).read()
    out = {"text": text}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    out["requests"] = int(m.group(1))
    out["duration"] = float(m.group(2)) * UNITS_T[m.group(3)]
    out["rps"] = float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1))
    m = re.search(r"Transfer/sec:\s*([\d.]+)(\w+)", text)
    out["bps"] = float(m.group(1)) * UNITS_B[m.group(2)]
    m = re.search(r"^\s*99%\s+([\d.]+)(\w+)", text, re.M)
    out["p99"] = float(m.group(1)) * UNITS_T[m.group(2)] if m else None
    m = re.search(r"Socket errors: (.*)", text)
    out["errors"] = m.group(1).strip() if m else ""
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    return out


def parse_strace(path):
    calls, total = {}, None
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[3].isdigit():
            if f[-1] == "total":
                total = int(f[3])
            else:
                calls[f[-1]] = int(f[3])
    if total is None:
        total = sum(calls.values())
    return total, calls


def med(xs):
    return statistics.median(xs)


def fmt_num(x, digits=0):
    if x is None:
        return "–"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def fmt_span(xs, conv=lambda v: v, digits=0, unit=""):
    xs = [conv(x) for x in xs]
    return f"{fmt_num(med(xs), digits)}{unit} [{fmt_num(min(xs), digits)}–{fmt_num(max(xs), digits)}]"


def spread(xs):
    lo = min(xs)
    return max(xs) / lo if lo > 0 else float("inf")


def verdict(value, target, higher_better=True):
    ok = value >= target if higher_better else value <= target
    how = abs(value / target - 1) * 100
    side = "above" if value > target else "below"
    word = "**met**" if ok else "**missed**"
    how_text = f"{how:.1f}" if how < 1 else f"{how:.0f}"
    return ok, f"{word} ({how_text}% {side} the {'target' if higher_better else 'bound'})"


def report(raw_path, out_path):
    meta, cmds, wrkcmds, runs, straces, idles, extra = {}, {}, {}, [], {}, {}, {}
    for line in open(raw_path):
        tag, _, rest = line.rstrip("\n").partition(" ")
        if tag == "META":
            k, _, v = rest.partition(" ")
            meta[k] = v
        elif tag == "CMD":
            k, _, v = rest.partition(" ")
            cmds[k] = v
        elif tag == "WRKCMD":
            k, _, v = rest.partition(" ")
            wrkcmds[k] = v
        elif tag == "RUN":
            r, sc, s, cpu, b1, b0, wall, load, f = rest.split(" ")
            runs.append(dict(round=int(r), sc=sc, server=s, cpu_ticks=int(cpu), cpu1_ticks=int(b1),
                             cpu0_ticks=int(b0), wall=float(wall), load=float(load), wrk=parse_wrk(f)))
        elif tag == "STRACE":
            s, f, w = rest.split(" ")
            straces[s] = (parse_strace(f), parse_wrk(w))
        elif tag == "IDLE":
            s, before, after, opened, alive = rest.split(" ")
            idles[s] = dict(before=int(before), after=int(after), opened=int(opened), alive=int(alive))
        elif tag in ("STRACECMD", "IDLECMD"):
            extra[tag] = rest
    hz = int(meta.get("clk_tck", "100"))
    rounds = sorted({r["round"] for r in runs})
    scen_names = {
        "1k_c100": "1 KiB file, 100 connections",
        "1k_c1000": "1 KiB file, 1,000 connections",
        "100k_c100": "100 KiB file, 100 connections",
        "10m_c100": "10 MiB file, 100 connections",
    }
    scenarios = [s for s in scen_names if any(r["sc"] == s for r in runs)]
    for r in runs:
        cpu_s = r["cpu_ticks"] / hz
        r["cpu_s"] = cpu_s
        r["rpcpu"] = r["wrk"]["requests"] / cpu_s if cpu_s > 0 else float("inf")
        r["cpu1_other"] = max(0.0, (r["cpu1_ticks"] - r["cpu_ticks"]) / hz / r["wall"])
        r["cpu0_busy"] = r["cpu0_ticks"] / hz / r["wall"]

    L = []
    w = L.append
    w("# waiter serve: static-file benchmark (issue 3)")
    w("")
    w(f"Written by `bench/serve_report.py` from the raw file of `{meta.get('command', 'bench/serve.sh').strip()}`"
      f" — **{meta['mode']} mode**: {meta['rounds']} rounds of {meta['duration']} wrk runs per server"
      " and scenario, servers alternated round-robin (order rotated every round). No number on this"
      " page is typed by hand.")
    w("")
    w("## Machine")
    w("")
    for k, label in [("date", "date (UTC)"), ("cpu", "CPU"), ("nproc", "cores"), ("mem", "memory"),
                     ("kernel", "kernel"), ("os", "OS"), ("waiter_rev", "waiter"), ("rustc", "rustc"),
                     ("nginx", "nginx"), ("h2o", "h2o"), ("lighttpd", "lighttpd"), ("wrk", "wrk"),
                     ("strace", "strace"), ("ulimit_n", "ulimit -n"),
                     ("load_start", "load average at start"), ("load_end", "load average at end"),
                     ("top_start", "top CPU users at start"), ("top_end", "top CPU users at end")]:
        if k in meta:
            w(f"- {label}: {meta[k]}")
    w("")
    w("## Noise")
    w("")
    other = [r["cpu1_other"] for r in runs]
    busy0 = [r["cpu0_busy"] for r in runs]
    loads = [r["load"] for r in runs]
    flagged = []
    w(f"The machine has {meta.get('nproc', '?')} cores and is shared (other sessions may be compiling)."
      f" Per run, the busy time of CPU 1 not charged to the server (other processes plus softirq work)"
      f" was {fmt_span(other, lambda v: v * 100, 0, '%')} of the run (median [min–max]); CPU 0, where wrk"
      f" runs, was busy {fmt_span(busy0, lambda v: v * 100, 0, '%')}; the 1-minute load average after"
      f" the runs was {fmt_span(loads, digits=2)}. With wrk saturating CPU 0 the requests/s of the"
      " fastest servers are partly the load generator's limit: requests per server CPU-second is"
      " the steadier figure.")
    w("")

    w("## Commands")
    w("")
    w("```")
    for s in SERVERS:
        if s in cmds:
            w(cmds[s])
    for sc in scenarios:
        w(wrkcmds[sc])
    if "STRACECMD" in extra:
        w(extra["STRACECMD"])
    if "IDLECMD" in extra:
        w(extra["IDLECMD"])
    w("```")
    w("")
    w("Server configs: `bench/serve/{nginx,h2o,lighttpd}.conf`. waiter runs with `--max-requests 100000"
      " --max-connections 19000` to match nginx's `keepalive_requests 100000` and the anchors'"
      " connection limits. CPU seconds are utime+stime of the server's processes from"
      f" `/proc/PID/stat` (clock tick {1000 // hz} ms) read before and after each wrk run.")
    w("")

    targets = []  # (what, ok, text)

    def value(r, key):
        return r[key] if key in r else r["wrk"][key]

    def ratios(sc, key, higher_better=True):
        """Waiter against the best anchor by median, as the ratio of medians and paired round by
        round, and against the best anchor of each round (the strictest reading)."""
        pick = max if higher_better else min
        meds = {}
        for s in SERVERS:
            vs = [value(r, key) for r in runs if r["sc"] == sc and r["server"] == s]
            vs = [v for v in vs if v is not None]
            if vs:
                meds[s] = med(vs)
        anc = {a: meds[a] for a in ANCHORS if a in meds}
        if "waiter" not in meds or not anc:
            return None
        best = pick(anc, key=anc.get)
        paired, strict = [], []
        for rd in rounds:
            vals = {r["server"]: value(r, key) for r in runs if r["round"] == rd and r["sc"] == sc}
            if vals.get("waiter") is None:
                continue
            if vals.get(best) is not None:
                paired.append(vals["waiter"] / vals[best])
            here = {a: vals[a] for a in ANCHORS if vals.get(a) is not None}
            if here:
                strict.append(vals["waiter"] / here[pick(here, key=here.get)])
        return best, meds["waiter"] / anc[best], paired, strict

    for sc in scenarios:
        w(f"## {scen_names[sc]}")
        w("")
        w("| server | requests/s | transfer MiB/s | p99 ms | server CPU s | requests per server CPU-s |"
          " CPU 1 other % | max/min | errors |")
        w("|---|---|---|---|---|---|---|---|---|")
        for s in SERVERS:
            rs = [r for r in runs if r["sc"] == sc and r["server"] == s]
            if not rs:
                continue
            rps = [r["wrk"]["rps"] for r in rs]
            bps = [r["wrk"]["bps"] for r in rs]
            p99 = [r["wrk"]["p99"] for r in rs if r["wrk"]["p99"] is not None]
            key = bps if sc.startswith(("100k", "10m")) else rps
            sp = max(spread(rps), spread([r["rpcpu"] for r in rs]))
            flag = f"{sp:.2f}" + (" ⚠ noisy" if sp > NOISY else "")
            if sp > NOISY:
                flagged.append(f"{scen_names[sc]}: {s} ({sp:.2f})")
            errs = sorted({r["wrk"]["errors"] for r in rs if r["wrk"]["errors"]})
            non2 = sum(r["wrk"]["non2xx"] for r in rs)
            err = "; ".join(errs) + (f"; non-2xx {non2}" if non2 else "")
            w(f"| {s} | {fmt_span(rps)} | {fmt_span(bps, lambda v: v / 2**20, 1)} |"
              f" {fmt_span(p99, lambda v: v * 1000, 2) if p99 else '–'} |"
              f" {fmt_span([r['cpu_s'] for r in rs], digits=2)} | {fmt_span([r['rpcpu'] for r in rs])} |"
              f" {fmt_span([r['cpu1_other'] for r in rs], lambda v: v * 100)} | {flag} | {err or 'none'} |")
        w("")
        w("Cells: median [min–max] over the rounds. max/min is the larger spread of requests/s and"
          f" requests per CPU-second; above {NOISY} the row is flagged.")
        w("")
        w("waiter ÷ the best anchor (the anchor with the best median): the ratio of the medians, then"
          " the same anchor round by round, then the strictest reading (the best anchor of each round):")
        w("")
        w("| metric | best anchor | ratio of medians | paired rounds, median [min–max] |"
          " vs each round's best, median [min–max] | target | verdict |")
        w("|---|---|---|---|---|---|---|")
        metrics = [("requests per server CPU-s", "rpcpu", True, T_CPU_RATIO if sc.startswith("1k") else None),
                   ("requests/s", "rps", True, T_RPS_RATIO if sc.startswith("1k") else None),
                   ("p99 latency (lower is better)", "p99", False, T_P99_RATIO if sc.startswith("1k") else None),
                   ("transfer bytes/s", "bps", True, T_BPS_RATIO if not sc.startswith("1k") else None)]
        for label, key, hb, tgt in metrics:
            got = ratios(sc, key, hb)
            if got is None:
                continue
            best, m, paired, strict = got

            def span(xs):
                return f"{med(xs):.2f} [{min(xs):.2f}–{max(xs):.2f}]" if xs else "–"

            cells = f"| {label} | {best} | {m:.3f} | {span(paired)} | {span(strict)} |"
            if tgt is None:
                w(f"{cells} – | – |")
            else:
                ok, text = verdict(m, tgt, hb)
                sign = "≥" if hb else "≤"
                w(f"{cells} {sign} {tgt:.1f}× | {text} |")
                targets.append((f"{scen_names[sc]}: {label} {sign} {tgt:.1f}× best anchor", ok,
                                f"{m:.3f}× {best} (paired {span(paired)}; strictest {span(strict)})"
                                f" — {text}"))
        w("")

    w("## Syscalls per keep-alive 1 KiB request")
    w("")
    if straces:
        w("| server | requests (wrk -c10, under strace) | syscalls | syscalls per request | top calls per request |")
        w("|---|---|---|---|---|")
        per_req = {}
        for s in SERVERS:
            if s not in straces:
                continue
            (total, calls), wk = straces[s]
            n = wk["requests"]
            per_req[s] = total / n if n else float("inf")
            top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
            tops = ", ".join(f"{c} {v / n:.2f}" for c, v in top)
            w(f"| {s} | {n:,} | {total:,} | {per_req[s]:.2f} | {tops} |")
        w("")
        if "waiter" in per_req:
            ok, text = verdict(per_req["waiter"], T_SYSCALLS, False)
            targets.append((f"syscalls per keep-alive 1 KiB request ≤ {T_SYSCALLS}", ok,
                            f"{per_req['waiter']:.2f} — {text}"))
    w("The counts include the few calls of the idle second before wrk starts and after it ends"
      " (timers, accept of the 10 connections), spread over all requests.")
    w("")

    w("## RSS per idle keep-alive connection")
    w("")
    if idles:
        w("| server | connections opened | still open at measurement | VmRSS before kB | VmRSS after kB | bytes per connection |")
        w("|---|---|---|---|---|---|")
        per_conn = {}
        for s in SERVERS:
            if s not in idles:
                continue
            d = idles[s]
            per_conn[s] = (d["after"] - d["before"]) * 1024 / d["opened"]
            w(f"| {s} | {d['opened']:,} | {d['alive']:,} | {d['before']:,} | {d['after']:,} | {per_conn[s]:,.0f} |")
        w("")
        w("Each connection made one GET /1k.bin (keep-alive) and then stayed idle. Every server was"
          " restarted just before this step (a fresh process that had answered only the start-up"
          " checks), so no heap freed by the earlier runs is reused; kernel socket buffers are not"
          " in VmRSS.")
        w("")
        if "waiter" in per_conn:
            ok, text = verdict(max(per_conn["waiter"], 1e-9), T_RSS_PER_CONN, False)
            targets.append((f"RSS growth per idle keep-alive connection ≤ {T_RSS_PER_CONN} B", ok,
                            f"{per_conn['waiter']:,.0f} B — {text}"))

    w("## Targets of issue 3")
    w("")
    w("| target | result |")
    w("|---|---|")
    for what, ok, text in targets:
        w(f"| {what} | {text} |")
    w("")
    met = sum(1 for _, ok, _ in targets if ok)
    w(f"{met} of {len(targets)} targets met. The verdict of a ratio target is the ratio of medians"
      " against the anchor with the best median (the issue asks for medians of several runs); the"
      " paired and strictest figures beside it show how much the rounds agree.")
    w("")
    w("## Flagged runs (max/min > 1.3)")
    w("")
    if flagged:
        for f in flagged:
            w(f"- {f}")
    else:
        w("None.")
    w("")
    with open(out_path, "w") as f:
        f.write("\n".join(L))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "idle" and len(sys.argv) == 6:
        idle(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
