#!/usr/bin/env python3
"""wrk -t1 and `waiter load` against the same servers, side by side (called by compare.sh).

    compare.py --waiter PATH [--quick] [ROUNDS]   run everything, write the raw file and the report
    compare.py --report RAW                       rewrite bench/results/load.md from a raw file

The raw file (JSON lines, under $CARGO_TARGET_DIR/load-bench/) holds every run's parsed
figures; the report is computed from it only, so no figure is typed by hand.
"""

import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_MD = os.path.join(REPO, "bench", "results", "load.md")
PORTS = {"waiter": 19080, "nginx": 19081}
SERVERS = ["waiter", "nginx"]
TOOLS = ["wrk", "load"]
CONNECTIONS = [100, 1000, 10000]
SERVER_CPU, CLIENT_CPU = "1", "0"


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def meta(waiter, mode, rounds, dur):
    return {
        "mode": mode,
        "rounds": rounds,
        "duration_s": dur,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'"),
        "nproc": sh("nproc"),
        "mem": sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo"),
        "kernel": sh("uname -r"),
        "os": sh(". /etc/os-release; echo \"$PRETTY_NAME\""),
        "waiter_rev": sh(f"cd {REPO} && git rev-parse --short HEAD")
        + sh(f"cd {REPO} && (git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)')"),
        "rustc": sh("rustc -V"),
        "nginx": sh("nginx -v 2>&1"),
        "wrk": sh("wrk -v 2>&1 | head -1"),
        "ulimit_n": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "waiter": waiter,
    }


def tree(pid):
    """pid and its descendants."""
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    out += tree(int(child))
    except OSError:
        pass
    return out


def cpu_ticks(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b" ")[1], body


def start_servers(waiter, tmp, root):
    conf = open(os.path.join(REPO, "bench", "load", "nginx.conf")).read()
    conf = conf.replace("@TMP@", tmp).replace("@ROOT@", root).replace("@PORT@", str(PORTS["nginx"]))
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(conf)
    cmds = {
        "waiter": [waiter, "serve", root, "--listen", f"127.0.0.1:{PORTS['waiter']}", "--workers", "1",
                   "--max-requests", "1000000", "--max-connections", "19000"],
        "nginx": ["nginx", "-c", os.path.join(tmp, "nginx.conf")],
    }
    procs = {}
    for name, cmd in cmds.items():
        full = ["taskset", "-c", SERVER_CPU] + cmd
        procs[name] = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"{name}.err"), "w"))
        for _ in range(100):
            try:
                status, body = http_get(PORTS[name], "/1k.bin")
                if status == b"200" and len(body) == 1024:
                    break
            except OSError:
                pass
            if procs[name].poll() is not None:
                sys.exit(f"compare.py: {name} died: {open(os.path.join(tmp, name + '.err')).read()}")
            time.sleep(0.1)
        else:
            sys.exit(f"compare.py: {name} does not serve /1k.bin")
    return procs, {n: " ".join(["taskset", "-c", SERVER_CPU] + c).replace(tmp, "$TMP") for n, c in cmds.items()}


def tool_cmd(tool, waiter, port, conns, dur):
    url = f"http://127.0.0.1:{port}/1k.bin"
    if tool == "wrk":
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency", url]
    else:
        cmd = [waiter, "load", url, "-c", str(conns), "-d", f"{dur}s", "--json"]
    return ["taskset", "-c", CLIENT_CPU] + cmd


UNITS = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}


def micros(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(out):
    r = {"tool": "wrk"}
    r["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    r["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    for label, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
        r[key] = micros(re.search(rf"^\s+{re.escape(label)}\s+(\S+)", out, re.M).group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["errors"] += int(m.group(1)) if m else 0
    return r


def parse_load(out):
    j = json.loads(out)
    lat = j["latency_us"]
    return {"tool": "load", "rps": j["rps"], "requests": j["requests"], "p50": lat["p50"], "p90": lat["p90"],
            "p99": lat["p99"], "errors": sum(j["errors"].values()), "connect_s": j["connect_s"]}


def run_one(cmd, server_pid):
    c0 = cpu_ticks(server_pid)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    c1 = cpu_ticks(server_pid)
    return out, p.returncode, {"client_cpu_s": ru.ru_utime + ru.ru_stime, "client_maxrss_kib": ru.ru_maxrss,
                               "server_cpu_s": (c1 - c0) / os.sysconf("SC_CLK_TCK"), "wall_s": wall}


def measure(args):
    waiter = args[args.index("--waiter") + 1]
    quick = "--quick" in args
    rounds = next((int(a) for a in args if a.isdigit()), 3)
    if rounds < 3:
        sys.exit("compare.py: ROUNDS must be >= 3")
    dur = 3 if quick else 5
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "load-bench")
    os.makedirs(out_dir, exist_ok=True)
    raw_path = os.path.join(out_dir, "load.raw")
    raw = open(raw_path, "w")

    def emit(obj):
        raw.write(json.dumps(obj) + "\n")
        raw.flush()

    m = meta(waiter, "quick" if quick else "full", rounds, dur)
    m["command"] = "bench/load/compare.sh " + " ".join(a for a in args if a not in ("--waiter", waiter))
    tmp = tempfile.mkdtemp(prefix="loadbench.")
    os.chmod(tmp, 0o755)
    root = os.path.join(tmp, "root")
    os.mkdir(root)
    with open(os.path.join(root, "1k.bin"), "wb") as f:
        f.write(os.urandom(1024))
    os.chmod(root, 0o755)
    os.chmod(os.path.join(root, "1k.bin"), 0o644)
    procs, server_cmds = start_servers(waiter, tmp, root)
    m["server_cmds"] = server_cmds
    m["tool_cmds"] = {t: " ".join(tool_cmd(t, "waiter", "PORT", "C", dur)) for t in TOOLS}
    emit({"meta": m})
    try:
        for name in SERVERS:
            for tool in TOOLS:
                run_one(tool_cmd(tool, waiter, PORTS[name], 100, 1), procs[name].pid)  # warm-up
        for r in range(1, rounds + 1):
            for conns in CONNECTIONS:
                for i in range(len(SERVERS)):
                    name = SERVERS[(i + r - 1) % len(SERVERS)]
                    # The tool that goes first alternates too: a server warmed by one run favours the next.
                    tools = TOOLS if (r + i) % 2 else TOOLS[::-1]
                    for tool in tools:
                        print(f"== round {r}/{rounds} c={conns} {name} {tool}", file=sys.stderr, flush=True)
                        out, code, usage = run_one(tool_cmd(tool, waiter, PORTS[name], conns, dur), procs[name].pid)
                        if code != 0:
                            sys.exit(f"compare.py: {tool} failed ({code}): {out}")
                        result = parse_wrk(out) if tool == "wrk" else parse_load(out)
                        result.update(usage, round=r, server=name, connections=conns,
                                      loadavg=float(open("/proc/loadavg").read().split()[0]))
                        emit(result)
                        time.sleep(1 if conns >= 10000 else 0.3)
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    emit({"meta_end": {"loadavg_end": open("/proc/loadavg").read().split()[:3]}})
    raw.close()
    report(raw_path)
    print(f"== wrote {os.path.relpath(OUT_MD, REPO)} (raw data: {raw_path})", file=sys.stderr)


def med(xs):
    return statistics.median(xs)


def spread(xs, fmt):
    """median [min–max], flagged when max/min > 1.3."""
    lo, hi = min(xs), max(xs)
    flag = " ⚠" if lo > 0 and hi / lo > 1.3 else ""
    return f"{fmt(med(xs))} [{fmt(lo)}–{fmt(hi)}]{flag}"


def k(x):
    return f"{x / 1000:.1f}k"


def ms(us):
    return f"{us / 1000:.2f}"


def report(raw_path):
    rows = [json.loads(line) for line in open(raw_path)]
    m = next(r["meta"] for r in rows if "meta" in r)
    end = next((r["meta_end"] for r in rows if "meta_end" in r), {})
    runs = [r for r in rows if "tool" in r]
    out = []
    w = out.append
    w("# waiter load vs wrk -t1: can the tool be trusted?\n")
    w(f"Written by `bench/load/compare.py` from the raw file of `{m['command'].strip()}` ({m['mode']} mode: "
      f"{m['rounds']} rounds of {m['duration_s']} s runs per server, tool and connection count; servers and the "
      "order of the two tools alternate every round). No number on this page is typed by hand.\n")
    w("Both tools run one thread pinned to CPU 0 (`taskset -c 0`); the server (one worker) is pinned to CPU 1. "
      "`wrk -t1` is the reference. Each cell: median [min–max] of the rounds; ⚠ marks a spread max/min > 1.3 "
      "(a noisy figure). The ratio load/wrk is computed pair by pair within each round (same server, same "
      "connections, back to back), then the median taken. *Client CPU per request* is the load generator's own "
      "user+system time (from `wait4`) divided by the requests it completed: the cost of the tool itself, "
      "which caps what it can measure. *Client CPU busy* is that time over the run's length (wall time of the "
      "tool's process, connecting included): near 100% the tool, not the server, sets the pace; *server CPU busy* "
      "is the server's user+system time (from /proc) over the same span, and *server CPU per request* that time over "
      "the requests the tool completed (connection set-up included, which weighs at 10,000 connections).\n")
    w("## Machine\n")
    for key, label in (("date", "date (UTC)"), ("cpu", "CPU"), ("nproc", "cores"), ("mem", "memory"),
                       ("kernel", "kernel"), ("os", "OS"), ("waiter_rev", "waiter"), ("rustc", "rustc"),
                       ("nginx", "nginx"), ("wrk", "wrk"), ("ulimit_n", "ulimit -n")):
        w(f"- {label}: {m[key]}")
    w(f"- load average at start: {' '.join(m['loadavg_start'])}; at end: {' '.join(end.get('loadavg_end', ['?']))}")
    w("")
    w("## Noise\n")
    loads = [r["loadavg"] for r in runs]
    w(f"The machine has {m['nproc']} cores and is shared: other sessions compile and test while this runs "
      "(the lock only keeps other benchmarks out). The 1-minute load average after each run was "
      f"{med(loads):.1f} [{min(loads):.1f}–{max(loads):.1f}] (median [min–max]); above the core count, "
      "the pinned server and tool were sharing their cores with other work, and requests/s and latencies "
      "from such runs say more about the neighbours than about the tools. Client CPU per request is the "
      "steadier figure.\n")
    w("## Commands\n")
    w("```")
    for cmd in m["server_cmds"].values():
        w(cmd)
    for cmd in m["tool_cmds"].values():
        w(cmd.replace(" C ", " CONNECTIONS ").replace("-cC", "-cCONNECTIONS"))
    w("```\n")
    w("## Side by side\n")
    w("| server | connections | wrk req/s | waiter load req/s | load/wrk | wrk p50 ms | load p50 ms | wrk p99 ms "
      "| load p99 ms | wrk client CPU µs/req | load client CPU µs/req | wrk client CPU busy | load client CPU busy "
      "| server CPU busy under wrk / load | server CPU µs/req under wrk / load | errors wrk / load |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for conns in CONNECTIONS:
        for name in SERVERS:
            by = {t: [r for r in runs if r["server"] == name and r["connections"] == conns and r["tool"] == t]
                  for t in TOOLS}
            if not by["wrk"] or not by["load"]:
                continue
            pairs = {}
            for r in runs:
                if r["server"] == name and r["connections"] == conns:
                    pairs.setdefault(r["round"], {})[r["tool"]] = r
            ratio = [p["load"]["rps"] / p["wrk"]["rps"] for p in pairs.values() if len(p) == 2 and p["wrk"]["rps"]]
            cells = [name, str(conns)]
            cells += [spread([r["rps"] for r in by[t]], k) for t in TOOLS]
            cells.append(f"{med(ratio):.2f} [{min(ratio):.2f}–{max(ratio):.2f}]")
            for key in ("p50", "p99"):
                cells += [spread([r[key] for r in by[t]], ms) for t in TOOLS]
            cells += [f"{med([r['client_cpu_s'] / max(r['requests'], 1) * 1e6 for r in by[t]]):.2f}" for t in TOOLS]
            cells += [f"{med([r['client_cpu_s'] / r['wall_s'] * 100 for r in by[t]]):.0f}%" for t in TOOLS]
            cells.append(" / ".join(f"{med([r['server_cpu_s'] / r['wall_s'] * 100 for r in by[t]]):.0f}%" for t in TOOLS))
            cells.append(" / ".join(
                f"{med([r['server_cpu_s'] / max(r['requests'], 1) * 1e6 for r in by[t]]):.1f}" for t in TOOLS))
            cells.append(f"{sum(r['errors'] for r in by['wrk'])} / {sum(r['errors'] for r in by['load'])}")
            w("| " + " | ".join(cells) + " |")
    w("")
    tenk = [r for r in runs if r["connections"] == 10000 and r["tool"] == "load"]
    if tenk:
        w("## 10,000 connections from one loop\n")
        w("| server | waiter load: connecting 10,000 took (ms) | waiter load max RSS (MiB) | wrk max RSS (MiB) "
          "| mean latency by Little's law, wrk / load (ms) | measured p50 / that mean, wrk / load |")
        w("|---|---:|---:|---:|---:|---:|")
        for name in SERVERS:
            mine = [r for r in tenk if r["server"] == name]
            theirs = [r for r in runs if r["connections"] == 10000 and r["tool"] == "wrk" and r["server"] == name]
            if mine and theirs:
                w(f"| {name} | {spread([r['connect_s'] * 1000 for r in mine], lambda x: f'{x:.0f}')} "
                  f"| {med([r['client_maxrss_kib'] for r in mine]) / 1024:.1f} "
                  f"| {med([r['client_maxrss_kib'] for r in theirs]) / 1024:.1f} "
                  f"| {med([10000 / r['rps'] * 1000 for r in theirs]):.0f} / {med([10000 / r['rps'] * 1000 for r in mine]):.0f} "
                  f"| {med([r['p50'] / (10000 / r['rps'] * 1e6) for r in theirs]):.2f} / "
                  f"{med([r['p50'] / (10000 / r['rps'] * 1e6) for r in mine]):.2f} |")
        w("")
        w("waiter load opens its connections before the clock starts (256 connects in flight at a time); "
          "wrk opens them inside its measured time. With every connection always waiting on one request, the mean "
          "latency must be connections / (requests/s) (Little's law): a p50 far below that mean means some "
          "connections are served far more often than others (a long tail), not that the server is faster. "
          "waiter load writes the next request as soon as a response ends, on the connection that "
          "read it; wrk arms a writable event and writes on the next pass of its loop.\n")
    w("## Reading it\n")
    w(verdict(runs))
    with open(OUT_MD, "w") as f:
        f.write("\n".join(out) + "\n")


def verdict(runs):
    """Sentences computed from the runs: where waiter load is slower than wrk, and by how much."""
    lines = []
    for conns in CONNECTIONS:
        for name in SERVERS:
            pairs = {}
            for r in runs:
                if r["server"] == name and r["connections"] == conns:
                    pairs.setdefault(r["round"], {})[r["tool"]] = r
            ratios = [p["load"]["rps"] / p["wrk"]["rps"] for p in pairs.values() if len(p) == 2 and p["wrk"]["rps"]]
            cpu = [p["load"]["client_cpu_s"] / max(p["load"]["requests"], 1) / (p["wrk"]["client_cpu_s"] / max(p["wrk"]["requests"], 1))
                   for p in pairs.values() if len(p) == 2 and p["wrk"]["requests"]]
            server = [(p["load"]["server_cpu_s"] / max(p["load"]["requests"], 1))
                      / (p["wrk"]["server_cpu_s"] / max(p["wrk"]["requests"], 1))
                      for p in pairs.values() if len(p) == 2 and p["wrk"]["requests"] and p["wrk"]["server_cpu_s"]]
            if not ratios:
                continue
            r = med(ratios)
            word = "slower than" if r < 0.95 else "faster than" if r > 1.05 else "within 5% of"
            lines.append(f"- {name}, {conns} connections: waiter load measured {r:.2f}× wrk's requests/s ({word} wrk); "
                         f"it spent {med(cpu):.2f}× wrk's CPU per request, and the server {med(server):.2f}× "
                         "the CPU per request it spent under wrk.")
    lines.append("\nWhen a tool's client CPU busy is near 100%, its requests/s is the tool's own ceiling, not the "
                 "server's: compare servers with such a tool only through requests per server CPU-second "
                 "(bench/results/serve.md), or give the tool more cores than the server.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--report":
        report(sys.argv[2])
    elif "--waiter" in sys.argv:
        measure(sys.argv[1:])
    else:
        sys.exit(__doc__)
