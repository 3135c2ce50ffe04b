#!/usr/bin/env python3
"""Writes bench/results/pg.md from the raw outputs of bench/pg/run.sh (stdout)."""
import os, platform, re, statistics, subprocess, sys

raw, queries, runs, rounds, slow_seconds, kind, sched = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                                       int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7])
blocks = int(sys.argv[8]) if len(sys.argv) > 8 else 1

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return "?"

cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
print("# waiter-pg benchmarks\n")
# The code measured: a commit, and whether the tree had changes of its own in crates/.
commit = os.environ.get("BENCH_COMMIT") or sh("git rev-parse --short HEAD") or "?"
if not os.environ.get("BENCH_COMMIT") and sh("git status --porcelain -- crates"):
    commit += " plus uncommitted changes in crates/"
flag = {"quick": " --quick", "raw": " --raw"}.get(kind, "")
print(f"Written by `bench/pg/run.sh{flag}` on {sh('date -u +%Y-%m-%dT%H:%MZ')} "
      f"(code: {commit}): "
      f"{cpu}, {os.cpu_count()} CPUs, {sh('uname -r')}, {sh('/usr/lib/postgresql/15/bin/postgres --version')}, "
      f"{sh('node --version')}, {sh('rustc --version')}. PostgreSQL (fsync off) is pinned to one CPU with the load "
      "generator, the client or server under test to the other; every measurement holds `/tmp/waiter-bench.lock`. "
      + ("PostgreSQL runs at real-time priority SCHED_FIFO 20 (`chrt`), the clients, servers, wrk and "
         "pgbench at nice -20, so that other sessions' compilers on this shared machine do not delay their "
         "wake-ups (bench/pg/api.sh says why).\n" if sched == "rt" else "All processes run under the normal scheduler (BENCH_RT=0).\n"))

previous = None
if kind == "raw":
    # Only the raw client was run: the API section is the previous page's, from its own run.
    previous = open(os.path.join(raw, "previous_pg.md")).read()
    m = re.search(r"Written by `([^`]+)` on (\S+) \(code: ([^)]+)\)", previous)
    origin = m.groups() if m else ("bench/pg/run.sh", "?", "?")
    # A page written by --raw already names the API section's run: keep that.
    carried = re.search(r"carried over unchanged (from the run of .*?\))\.", previous)
    source = carried.group(1) if carried else f"from the run of `{origin[0]}` on {origin[1]} (code: {origin[2]})"
    print(f"This run measured the raw client only; the API-server section below is carried over unchanged {source}.\n")

# Raw client
results = {}
for line in open(os.path.join(raw, "raw_client.txt")):
    client, mode, n, secs, qps = line.split()
    results.setdefault((client, mode), []).append(float(qps))
# Per-query costs (RAW_CLIENT_STATS lines): client user, sys µs, voluntary and
# involuntary switches | backend CPU µs, switches | waiter-loop ticks.
costs = {}
stats_path = os.path.join(raw, "raw_stats.txt")
if os.path.exists(stats_path):
    for line in open(stats_path):
        f = line.replace("|", " ").split()
        if len(f) >= 13 and f[0] == "stats":
            costs.setdefault((f[1], f[2]), []).append([float(x) for x in (f[3], f[4], f[5], f[6], f[8], f[9], f[12])])
load = open(os.path.join(raw, "raw_load.txt")).read().split("\n") if os.path.exists(os.path.join(raw, "raw_load.txt")) else []
print(f"## Raw client: {queries:,} × `SELECT $1::int` over one connection\n")
nice = "nice -n -20 " if sched == "rt" else ""
if blocks > 1:
    print(f"Median of {runs} runs per mode of `{nice}taskset -c 0 raw_client {queries} 64 MODE {blocks}` "
          "(crates/waiter-pg/benches/raw_client.rs): each run is one process holding one connection per "
          f"driver, each driver's {queries:,} queries run in {blocks} blocks of {queries // blocks:,}, the two "
          "drivers' blocks alternating (and which goes first alternating too), so that both see the same "
          "seconds of this shared machine. Pipelined = 64 tasks sharing the connection. Both drivers on one "
          "thread, statement prepared once. PostgreSQL is alone on the other CPU.\n")
else:
    print(f"Median of {runs} runs of `{nice}taskset -c 0 raw_client {queries} 64` (crates/waiter-pg/benches/raw_client.rs); "
          "pipelined = 64 tasks sharing the connection. Both drivers on one thread, statement prepared once.\n")
print("| mode | waiter-pg q/s | tokio-postgres q/s | waiter / tokio | median of the runs' own ratios [min–max] | target |")
print("|---|---:|---:|---:|---:|---|")
for mode in ("sequential", "pipelined"):
    ws, ts = results.get(("waiter-pg", mode), [0]), results.get(("tokio-postgres", mode), [0])
    w, t = statistics.median(ws), statistics.median(ts)
    ratio = w / t if t else 0
    # Run i of each driver ran in the same process, block by block, so their
    # ratio sees the same machine load: the median of these ratios is the
    # estimate least moved by the load of other sessions drifting between runs.
    ratios = [a / b for a, b in zip(ws, ts) if b]
    paired = statistics.median(ratios) if ratios else 0
    spread = f" [{min(ratios):.2f}–{max(ratios):.2f}]" if ratios else ""
    verdict = "met" if min(ratio, paired) >= 1.0 else "missed" if max(ratio, paired) < 1.0 else "met by one estimate, missed by the other"
    print(f"| {mode} | {w:,.0f} | {t:,.0f} | {ratio:.2f}× | {paired:.2f}×{spread} | ≥ 1.0× {verdict} |")
print()
print("All runs (q/s): " + "; ".join(f"{c} {m}: {', '.join(f'{q:,.0f}' for q in v)}" for (c, m), v in sorted(results.items())) + "\n")
if costs:
    print("What a query cost, per query, medians over the runs (the client from getrusage(2), its backend from "
          "/proc/PID/schedstat and /proc/PID/status; a voluntary switch is a sleep, in the client's epoll_wait "
          "or the backend's wait for input):\n")
    print("| mode | client | client user µs | client sys µs | client sleeps | backend CPU µs | backend sleeps | loop ticks |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for mode in ("sequential", "pipelined"):
        for client in ("waiter-pg", "tokio-postgres"):
            rows = costs.get((client, mode))
            if not rows:
                continue
            col = lambda i: statistics.median(r[i] for r in rows)
            ticks = f"{col(6):.2f}" if client == "waiter-pg" else "–"
            print(f"| {mode} | {client} | {col(0):.2f} | {col(1):.2f} | {col(2):.3f} | {col(4):.2f} | {col(5):.3f} | {ticks} |")
    print()
if load:
    print("Machine load (1/5/15-min) at the step's " + " and ".join(l for l in load if l) + " UTC.\n")

# API server
STEADY_SKIP = 3

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
    # steady.lua's counts per wall-clock second: the steady state skips the first
    # STEADY_SKIP seconds (wrk opening its connections) and the last, partial one.
    per_second = [int(x) for x in (grab(r"responses per second: ([\d ]+)", str, "") or "").split()]
    steady = per_second[STEADY_SKIP:-1]
    return {"rps": grab(r"Requests/sec:\s+([\d.]+)", float, 0.0), "p50": dur(p50) if p50 else None,
            "steady": statistics.mean(steady) if steady else None,
            "p99": dur(p99) if p99 else None, "total": total, "errors": socket_errors + non2xx}

def rss(path):
    if not os.path.exists(path):
        return None
    m = re.search(r"VmHWM:\s+(\d+) kB", open(path).read())
    return int(m.group(1)) / 1024 if m else None

def pgbench(path):
    if not os.path.exists(path):
        return None
    m = re.search(r"tps = ([\d.]+)", open(path).read())
    return float(m.group(1)) if m else None

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

# Per server, per round: /slow, /users, peak RSS.
servers = {}
for name in ("waiter", "waiter1", "node"):
    per_round = []
    for r in range(1, rounds + 1):
        slow = wrk(os.path.join(raw, f"{name}.r{r}.slow.txt"))
        users = wrk(os.path.join(raw, f"{name}.r{r}.users.txt"))
        if slow and users:
            per_round.append({"slow": slow, "users": users, "rss": rss(os.path.join(raw, f"{name}.r{r}.rss.txt"))})
    servers[name] = per_round
ceiling = [pgbench(os.path.join(raw, f"pgbench.r{r}.txt")) for r in range(1, rounds + 1)]

def med(name, key, field=None):
    return median([(r[key][field] if field else r[key]) for r in servers[name]])

if previous is not None:
    at = previous.find("## API server")
    if at >= 0:
        print(previous[at:].rstrip("\n"))
        print()
elif servers["waiter"] and servers["node"]:
    ideal = 50 / 0.020
    n = len(servers["waiter"])
    print("## API server: the first seed's scenario\n")
    print(f"Medians of {n} rounds (the order of the servers rotating). "
          f"`wrk -t2 -c10000 -d{slow_seconds}s --timeout 30s --latency` on `GET /slow` (`SELECT pg_sleep(0.02)` "
          "through a pool of 50, after 2 s of warm-up at 50 connections; waiter's api_server as shipped takes "
          "its connection with `Pool::get_pipelined`, which lets a second request's statement queue on a "
          "connection behind the running one, so each of the 50 backends starts its next sleep without "
          "waiting a round trip for the server to hand the connection on; `--pipeline 1` makes it an "
          "exclusive checkout, as node-postgres and pgbench work), then `wrk -t1 -c100 -d10s` on "
          "`GET /users/42` (`SELECT id, name, email, created_at FROM users WHERE id = $1`, the row rendered "
          "as JSON by the server; waiter's lookups go through `Pool::get_shared`, pipelined on one of the "
          "pool's connections, Node's each through `pg.Pool`, a connection per query: node-postgres cannot "
          "pipeline); servers: `crates/waiter-pg/examples/api_server.rs` and `bench/pg/node/server.js` "
          "(Node.js http + `pg.Pool`, max 50), each alone on its CPU. Pool-bound ideal for /slow: "
          f"50 / 20 ms = {ideal:,.0f} req/s. Peak RSS is the server's VmHWM over its whole run.\n")
    print("| server | /slow req/s | % of ideal | steady-state req/s | % of ideal | p50 ms | p99 ms | failed | /users req/s | /users p99 ms | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = (("waiter-pg api_server (/slow pipelined, 2 per connection)", "waiter"),
            ("waiter-pg api_server --pipeline 1 (exclusive checkouts)", "waiter1"), ("Node.js + pg.Pool", "node"))
    for label, name in rows:
        if not servers[name]:
            continue
        rps = med(name, "slow", "rps")
        steady = med(name, "slow", "steady") or 0
        print(f"| {label} | {rps:,.0f} | {100 * rps / ideal:.1f}% | {steady:,.0f} | {100 * steady / ideal:.1f}% | "
              f"{med(name, 'slow', 'p50') or 0:,.0f} | "
              f"{med(name, 'slow', 'p99') or 0:,.0f} | {max(r['slow']['errors'] for r in servers[name])} | "
              f"{med(name, 'users', 'rps'):,.0f} | {med(name, 'users', 'p99') or 0:,.1f} | {med(name, 'rss') or 0:,.1f} |")
    c = median(ceiling)
    if c:
        print(f"| pgbench (C, no HTTP), 50 clients on the same query | {c:,.0f} | {100 * c / ideal:.1f}% | | | | | | | | |")
    print()
    def listed(name, key, field=None, fmt="{:,.0f}"):
        return ", ".join(fmt.format((r[key][field] if field else r[key]) or 0) for r in servers[name])
    rounds_text = "; ".join(
        f"{name} /slow {listed(name, 'slow', 'rps')}, /users {listed(name, 'users', 'rps')}, "
        f"RSS {listed(name, 'rss', fmt='{:.1f}')} MiB" for name in ("waiter", "waiter1", "node") if servers[name])
    print(f"All rounds: {rounds_text}; pgbench " + ", ".join(f"{x or 0:,.0f}" for x in ceiling) + " tps\n")
    w_rps, n_rps = med("waiter", "slow", "rps"), med("node", "slow", "rps")
    w_users, n_users = med("waiter", "users", "rps"), med("node", "users", "rps")
    w_p99 = med("waiter", "slow", "p99")
    w_rss, n_rss = med("waiter", "rss"), med("node", "rss")
    failed = max(r["slow"]["errors"] for r in servers["waiter"])
    bound = 10000 / w_rps * 1000 if w_rps else 0
    checks = [
        ("/slow ≥ 95% of the pool-bound ideal", w_rps >= 0.95 * ideal, f"{100 * w_rps / ideal:.1f}%"),
        ("/slow p99 within 10% of the queueing bound (10,000 / achieved req/s)",
         w_p99 is not None and abs(w_p99 - bound) <= 0.1 * bound, f"p99 {w_p99 or 0:,.0f} ms vs bound {bound:,.0f} ms"),
        ("no /slow request failed", failed == 0, f"{failed} failed (worst round)"),
        ("/slow ≥ 1.0× Node", w_rps >= n_rps, f"{w_rps / n_rps:.2f}×"),
        ("/users ≥ 2× Node", w_users >= 2 * n_users, f"{w_users / n_users:.2f}×"),
        ("RSS ≤ 1/4 of Node's", (w_rss or 1e9) <= (n_rss or 0) / 4, f"{w_rss or 0:.1f} vs {n_rss or 0:.1f} MiB"),
    ]
    print("Targets judged on the api_server as shipped (the first row).\n")
    print("| target | result | |")
    print("|---|---|---|")
    for what, ok, detail in checks:
        print(f"| {what} | {detail} | {'met' if ok else 'missed'} |")
    print()
    print("wrk's duration includes opening its 10,000 connections, during which the pool has nothing "
          "to do; a request still unanswered when the run ends counts as neither done nor failed. "
          f"The steady-state column (bench/pg/steady.lua) is the mean of the responses per wall-clock second "
          f"from the {STEADY_SKIP + 1}th second to the last but one; the targets are judged on wrk's own figure. "
          "pgbench's figure is what PostgreSQL gives on this machine to a client that waits for each answer "
          "before it sends the next statement on that connection (as node-postgres and `--pipeline 1` do): "
          "pg_sleep(0.02) plus a round trip takes longer than 20 ms. The pipelined checkout does not pay the "
          "round trip (each backend still runs one statement at a time, 50 backends), so it can pass pgbench.\n")
