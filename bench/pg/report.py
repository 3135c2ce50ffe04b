#!/usr/bin/env python3
"""Writes bench/results/pg.md from the raw outputs of bench/pg/run.sh (stdout)."""
import os, platform, re, statistics, subprocess, sys

raw, queries, runs, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return "?"

cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
print("# waiter-pg benchmarks\n")
print(f"Written by `bench/pg/run.sh{' --quick' if kind == 'quick' else ''}` on {sh('date -u +%Y-%m-%dT%H:%MZ')}: "
      f"{cpu}, {os.cpu_count()} CPUs, {sh('uname -r')}, {sh('/usr/lib/postgresql/15/bin/postgres --version')}, "
      f"{sh('node --version')}, {sh('rustc --version')}. PostgreSQL (fsync off) is pinned to one CPU with the load "
      "generator, the client or server under test to the other; every measurement holds `/tmp/waiter-bench.lock`.\n")

# Raw client
results = {}
for line in open(os.path.join(raw, "raw_client.txt")):
    client, mode, n, secs, qps = line.split()
    results.setdefault((client, mode), []).append(float(qps))
print(f"## Raw client: {queries:,} × `SELECT $1::int` over one connection\n")
print(f"Median of {runs} runs of `taskset -c 0 raw_client {queries} 64` (crates/waiter-pg/benches/raw_client.rs); "
      "pipelined = 64 tasks sharing the connection. Both drivers on one thread, statement prepared once.\n")
print("| mode | waiter-pg q/s | tokio-postgres q/s | waiter / tokio | target |")
print("|---|---:|---:|---:|---|")
for mode in ("sequential", "pipelined"):
    w = statistics.median(results.get(("waiter-pg", mode), [0]))
    t = statistics.median(results.get(("tokio-postgres", mode), [0]))
    ratio = w / t if t else 0
    print(f"| {mode} | {w:,.0f} | {t:,.0f} | {ratio:.2f}× | ≥ 1.0× {'met' if ratio >= 1.0 else 'missed'} |")
print()
print("All runs (q/s): " + "; ".join(f"{c} {m}: {', '.join(f'{q:,.0f}' for q in v)}" for (c, m), v in sorted(results.items())) + "\n")

# API server
def wrk(path):
    if not os.path.exists(path):
        return None
    text = open(path).read()
    def grab(pattern, conv=float, default=None):
        m = re.search(pattern, text)
        return conv(m.group(1)) if m else default
    def dur(s):
        m = re.match(r"([\d.]+)(us|ms|s|m)", s)
        if not m:
            return None
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)]
    p50 = grab(r"50%\s+(\S+)", str)
    p99 = grab(r"99%\s+(\S+)", str)
    total = grab(r"(\d+) requests in", int, 0)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = sum(int(x) for x in errs.groups()) if errs else 0
    non2xx = grab(r"Non-2xx or 3xx responses: (\d+)", int, 0)
    return {"rps": grab(r"Requests/sec:\s+([\d.]+)", float, 0.0), "p50": dur(p50) if p50 else None,
            "p99": dur(p99) if p99 else None, "total": total, "errors": socket_errors + non2xx}

def rss(name):
    path = os.path.join(raw, f"{name}.rss.txt")
    if not os.path.exists(path):
        return None
    m = re.search(r"VmHWM:\s+(\d+) kB", open(path).read())
    return int(m.group(1)) / 1024 if m else None

w_slow, n_slow = wrk(os.path.join(raw, "waiter.slow.txt")), wrk(os.path.join(raw, "node.slow.txt"))
w_users, n_users = wrk(os.path.join(raw, "waiter.users.txt")), wrk(os.path.join(raw, "node.users.txt"))
if w_slow and n_slow:
    ideal = 50 / 0.020
    print("## API server: the first seed's scenario\n")
    print("`wrk -t2 -c10000 --timeout 30s --latency` on `GET /slow` (`SELECT pg_sleep(0.02)` through a pool of 50), "
          "and `wrk -t1 -c100` on `GET /users/42`; servers: `crates/waiter-pg/examples/api_server.rs` and "
          "`bench/pg/node/server.js` (Node.js http + `pg.Pool`, max 50), each alone on its CPU. Pool-bound ideal for "
          f"/slow: 50 / 20 ms = {ideal:,.0f} req/s. Peak RSS is the server's VmHWM over the whole run.\n")
    print("| server | /slow req/s | % of ideal | p50 ms | p99 ms | failed | /users req/s | /users p99 ms | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, slow, users in (("waiter-pg api_server", w_slow, w_users), ("Node.js + pg.Pool", n_slow, n_users)):
        r = rss("waiter" if name.startswith("waiter") else "node")
        print(f"| {name} | {slow['rps']:,.0f} | {100 * slow['rps'] / ideal:.0f}% | {slow['p50'] or 0:,.0f} | "
              f"{slow['p99'] or 0:,.0f} | {slow['errors']} | {users['rps']:,.0f} | {users['p99'] or 0:,.1f} | "
              f"{r or 0:,.1f} |")
    print()
    bound = 10000 / w_slow["rps"] * 1000 if w_slow["rps"] else 0
    checks = [
        ("/slow ≥ 95% of the pool-bound ideal", w_slow["rps"] >= 0.95 * ideal, f"{100 * w_slow['rps'] / ideal:.0f}%"),
        ("/slow p99 within 10% of the queueing bound (10,000 / achieved req/s)",
         w_slow["p99"] is not None and abs(w_slow["p99"] - bound) <= 0.1 * bound,
         f"p99 {w_slow['p99'] or 0:,.0f} ms vs bound {bound:,.0f} ms"),
        ("no /slow request failed", w_slow["errors"] == 0, f"{w_slow['errors']} failed"),
        ("/slow ≥ 1.0× Node", w_slow["rps"] >= n_slow["rps"], f"{w_slow['rps'] / n_slow['rps']:.2f}×" if n_slow["rps"] else "n/a"),
        ("/users ≥ 2× Node", w_users["rps"] >= 2 * n_users["rps"], f"{w_users['rps'] / n_users['rps']:.2f}×" if n_users["rps"] else "n/a"),
        ("RSS ≤ 1/4 of Node's", (rss("waiter") or 1e9) <= (rss("node") or 0) / 4,
         f"{rss('waiter') or 0:.1f} vs {rss('node') or 0:.1f} MiB"),
    ]
    print("| target | result | |")
    print("|---|---|---|")
    for what, ok, detail in checks:
        print(f"| {what} | {detail} | {'met' if ok else 'missed'} |")
    print()
    print("wrk counts a request still unanswered when the run ends as neither done nor failed; with 10,000 "
          "connections queued behind 50 database connections, each run's last few seconds of queue are such requests.\n")
