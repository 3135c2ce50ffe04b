#!/usr/bin/env python3
"""Writes bench/results/reliability.md from what reliability/run.sh measured.

    reliability/report.py FIGURES.tsv FUZZ_WORK_DIR MODE > reliability.md

FIGURES.tsv holds `item<TAB>metric<TAB>value` lines (from the reliability_* tests
through WAITER_RELIABILITY_OUT, and from run.sh itself); FUZZ_WORK_DIR holds
fuzz/run.sh's `<target>.log` files. No number in the output is typed by hand.
"""

import os
import re
import sys
import time
from collections import OrderedDict


def load(path):
    figures = OrderedDict()
    for line in open(path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t", 2)
        if len(parts) == 3:
            figures.setdefault(parts[0], OrderedDict())[parts[1]] = parts[2]
    return figures


def table(rows, header=("metric", "value")):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def section(figures, item):
    return table(list(figures.get(item, {}).items())) if item in figures else "_not measured in this run_"


def num(value, default=None):
    try:
        return float(str(value).split()[0])
    except (ValueError, IndexError):
        return default


# The flood items of reliability_floods.rs, as the summary names them.
FLOODS = (("connect_close", "FIN"), ("connect_reset", "RST"), ("half_open", "half-open"),
          ("pipelined", "pipelined"), ("resets", "resets"))

ATTACKS = ("slowloris", "slow_body", "slow_read")


def fuzz_rows(work):
    rows = []
    for target in ("request_head", "path_resolve", "range_header", "pg_message"):
        log = os.path.join(work, f"{target}.log")
        if not os.path.exists(log):
            rows.append((target, "not run", "", "", "", "", ""))
            continue
        text = open(log, encoding="utf-8", errors="replace").read()
        execs = re.findall(r"^stat::number_of_executed_units:\s*(\d+)", text, re.M)
        rate = re.findall(r"^stat::average_exec_per_sec:\s*(\d+)", text, re.M)
        secs = re.findall(r"^Done \d+ runs in (\d+) second", text, re.M)
        cov = re.findall(r"cov: (\d+)", text)
        crashed = re.search(r"==\d+==ERROR|panicked|deadly signal|Test unit written|ALARM: working on the last Unit", text)
        if not execs:
            # Still running (or stopped): the last status line's count of executions so far.
            progress = re.findall(r"^#(\d+)\s", text, re.M)
            if progress:
                execs = [f"{progress[-1]} so far"]
        done = bool(re.search(r"^stat::number_of_executed_units", text, re.M))
        verdict = "CRASH/HANG: see log" if crashed else ("ok" if done else "incomplete")
        # A run without a sanitizer, its corpus then replayed under ASan (fuzz/run.sh FUZZ_REPLAY).
        replay = os.path.join(work, f"{target}.replay.log")
        if done and os.path.exists(replay) and os.path.getmtime(replay) >= os.path.getmtime(log):
            rtext = open(replay, encoding="utf-8", errors="replace").read()
            replayed = re.findall(r"^#(\d+)\s+DONE", rtext, re.M)
            bad = re.search(r"==\d+==ERROR|panicked|deadly signal|Test unit written", rtext)
            verdict += (f"; no sanitizer, then its {replayed[-1] if replayed else '?'} corpus inputs replayed under "
                        f"ASan: {'CRASH: see ' + replay if bad or not replayed else 'ok'}")
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(log)))
        # What libFuzzer wrote as crash, timeout or leak inputs (each to become a regression test).
        art = os.path.join("fuzz", "artifacts", target)
        crashes = len(os.listdir(art)) if os.path.isdir(art) else 0
        rows.append((target, execs[-1] if execs else "?", rate[-1] if rate else "?",
                     secs[-1] if secs else "?", cov[-1] if cov else "?", crashes, f"{verdict} ({when})"))
    return rows


def main():
    figures = load(sys.argv[1])
    work, mode = sys.argv[2], sys.argv[3]
    g = lambda item, metric, default="?": figures.get(item, {}).get(metric, default)
    out = []
    p = out.append
    p("# Reliability: hostile clients and faults against `waiter serve` (issue 5)\n")
    p(f"Written by `reliability/report.py` from a `reliability/run.sh{' --quick' if mode == 'short' else ''}` run "
      f"({mode} versions) on {g('machine', 'date')}. Every figure below comes from that run, or, for the steps "
      "that run did not re-measure (`RELIABILITY_STEPS`), from the earlier run whose figures it kept.\n")
    p("## Machine\n")
    p(section(figures, "machine") + "\n")
    p("Commands: `reliability/run.sh` (long) or `reliability/run.sh --quick` (short); the fast checks alone: "
      "`cargo nextest run -p waiter -E 'binary(/^reliability_/)'`.\n")

    tests = figures.get("tests", {})
    p("## Summary\n")
    rows = []
    corpus = g("corpus", "entries")
    rows.append(("1 bad-input corpus", f"{corpus} hostile requests, each with a pipelined canary",
                 tests.get("reliability_bad_input every_bad_request_gets_its_status_and_no_desync", "?")))
    rows.append(("2 descriptor exhaustion", f"RLIMIT_NOFILE 256, {g('emfile', 'storm_attempts')} attempts: "
                 f"{g('emfile', 'cpu_percent_at_limit')} % CPU at the limit, {g('emfile', 'held_connections_answered')} held "
                 f"connections answered ({g('emfile', 'held_connections_answered_200')} with 200), recovery in "
                 f"{g('emfile', 'recovery_ms')} ms", tests.get("reliability_limits descriptor_exhaustion_at_rlimit_256", "?")))
    rows.append(("3 floods", f"{g('connect_close', 'cycles_per_second')} connect/close (FIN) and "
                 f"{g('connect_reset', 'cycles_per_second')} connect/reset per s for {g('connect_close', 'seconds')} s "
                 "(target 20,000) "
                 f"(server CPU {g('connect_close', 'server_cpu_percent')} % / {g('connect_reset', 'server_cpu_percent')} %, "
                 f"client CPU {g('connect_close', 'client_cpu_percent')} % / {g('connect_reset', 'client_cpu_percent')} %); "
                 f"{g('half_open', 'connections')} half-open/half-closed all closed in {g('half_open', 'all_closed_after_ms')} ms; "
                 f"{g('pipelined', 'answered_in_order')} pipelined answered in order; {g('resets', 'clients_reset_mid_8MiB_response')} "
                 "resets mid-response; fds before → after: " + ", ".join(
                     f"{name} {g(item, 'fds_before')} → {g(item, 'fds_after')}" for item, name in FLOODS) +
                 "; RSS KiB before → after: " + ", ".join(
                     f"{name} {g(item, 'rss_kib_before')} → {g(item, 'rss_kib_after')}" for item, name in FLOODS) +
                 (f" (half-open RSS after each of 3 rounds: {g('half_open', 'rss_kib_after_round_1')}, "
                  f"{g('half_open', 'rss_kib_after_round_2')}, {g('half_open', 'rss_kib_after_round_3')} KiB: the "
                  "peak's memory stays with malloc and is reused, not grown)"
                  if g('half_open', 'rss_kib_after_round_3', None) else ""),
                 ", ".join(v for k, v in tests.items() if k.startswith("reliability_floods")) or "?"))
    rows.append(("4 files changing", "truncate: " + f"{g('files', 'truncate_received_bytes')} of {g('files', 'truncate_announced_bytes')} "
                 "bytes then close; rename/delete: old version whole", ", ".join(v for k, v in tests.items() if k.startswith("reliability_files")) or "?"))
    rows.append(("5 graceful shutdown", f"{g('shutdown', 'downloads_complete_checksum_ok')}/{g('shutdown', 'downloads')} downloads of "
                 f"{g('shutdown', 'download_mib')} MiB complete, {g('shutdown', 'idle_keepalive_clients')} idle closed, exit in "
                 f"{g('shutdown', 'exit_seconds_after_sigterm')} s (timeout {g('shutdown', 'shutdown_timeout_seconds')} s; clients "
                 f"done reading at {g('shutdown', 'clients_done_reading_seconds_after_sigterm')} s); a stalled download with "
                 f"--shutdown-timeout 2: exit at {g('shutdown', 'stalled_download_exit_seconds_with_timeout_2')} s",
                 tests.get("reliability_shutdown sigterm_under_load_finishes_every_download", "?")))
    slow = []
    pcts = {}
    for name in ATTACKS:
        # The interleaved pairs decide; without them (not run), the single attack's median of 3.
        paired = num(g(f"pairs_{name}", "percent_median", None))
        if paired is not None:
            pcts[name] = paired
            held = [int(x) for x in g(f"pairs_{name}", "attacker_connections_at_server_per_pair", "").split()]
            slow.append(f"{name} {paired} % [{g(f'pairs_{name}', 'percent_min_max').replace(' ', '–')}] "
                        f"({g(f'pairs_{name}', 'pairs')} pairs; {min(held) if held else '?'}–{max(held) if held else '?'} "
                        "attacker connections at the server)")
        else:
            pcts[name] = num(g(f"slow_{name}", "percent_of_baseline"))
            slow.append(f"{name} {pcts[name]} % (one attack, median of 3 runs)")
    cuts = []
    for name in ATTACKS:
        first, left = g(f"slow_{name}", "first_closed_at_s"), g(f"slow_{name}", "connected_at_end")
        cuts.append(f"{name}: server fds {g(f'slow_{name}', 'server_fds_during_wrk')} during the attack, "
                    f"{g(f'slow_{name}', 'server_fds_3s_before_attack_end')} at {g(f'slow_{name}', 'attack_seconds')} − 3 s "
                    f"(idle {g('slow', 'server_fds_idle')}); attacker saw its first cut at {first} s, {left} left at the end")
    slow_ok = all((v or 0) >= 90 for v in pcts.values())
    rows.append(("6 slow clients", "normal clients keep (median [min–max] of the pairs' attacked/unattacked req/s) "
                 + "; ".join(slow) + " (target ≥ 90 %). One attack each, longer than the timeouts "
                 f"({g('slow', 'server_flags')}): " + "; ".join(cuts) + f"; server RSS {g('slow', 'rss_kib_before')} → "
                 f"{g('slow', 'rss_kib_after')} KiB, fds after {g('slow', 'fds_after_attacks')}",
                 "met" if slow_ok else "MISSED"))
    minutes = [(k, v) for k, v in figures.get("soak", {}).items() if re.fullmatch(r"minute_\d+", k)]
    soak_verdict, soak_text = "?", "not measured"
    if len(minutes) >= 2:
        def parse(v):
            d = dict(kv.split("=", 1) for kv in v.split())
            p99 = d["p99"]
            scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
            m = re.match(r"([\d.]+)(us|ms|s)", p99)
            return float(m.group(1)) * scale[m.group(2)] if m else None, int(d["rss_kib"]), int(d["fds"]), num(d["rps"])
        first, last = parse(minutes[0][1]), parse(minutes[-1][1])
        within = lambda a, b: a is not None and b is not None and abs(b - a) <= 0.1 * a
        flat = within(first[0], last[0]) and within(first[1], last[1]) and first[2] == last[2]
        soak_verdict = "flat" if flat else "NOT FLAT (see table)"
        p99s = [parse(v)[0] for _, v in minutes]
        if not flat and within(first[1], last[1]) and first[2] == last[2] and None not in p99s:
            # Only p99 is off: say which way, against its spread over all the minutes.
            soak_verdict = (f"NOT FLAT: p99 {'fell' if last[0] < first[0] else 'rose'} "
                            f"{abs(last[0] - first[0]) / first[0] * 100:.0f} % (every minute: "
                            f"{min(p99s):.2f}-{max(p99s):.2f} ms); RSS and fds flat")
        soak_text = (f"{g('soak', 'warmup_s_not_counted', 0)} s warm-up not counted, then "
                     f"{len(minutes)} min aiming at {g('soak', 'target_rps')} req/s (80 % of the peak "
                     f"{g('soak', 'peak_rps')}; measured {first[3]:.0f} → {last[3]:.0f}): p99 {first[0]:.3f} → {last[0]:.3f} ms, "
                     f"RSS {first[1]} → {last[1]} KiB, fds {first[2]} → {last[2]}")
    if g("soak", "rss_kib_around_two_1s_stalls", None):
        soak_text += f"; RSS KiB around two 1 s SIGSTOP stalls under the same load: {g('soak', 'rss_kib_around_two_1s_stalls')}"
    rows.append(("7 soak", soak_text, soak_verdict))
    fuzz = fuzz_rows(work)
    rows.append(("8 fuzzing", "; ".join(f"{r[0]} {r[1]} execs" for r in fuzz) +
                 f"; inputs in fuzz/artifacts: {sum(r[5] or 0 for r in fuzz)}", ", ".join(r[6].split(" (")[0] for r in fuzz)))
    rows.append(("9 security defaults", "dotfiles 404, symlinks out 403, FIFO/devices 404, nosniff on every status, listing "
                 "escaped; in headless Chromium: " + g("chromium", "verdict", "not run").replace("<", "&lt;"),
                 ", ".join(v for k, v in tests.items() if k.startswith("reliability_security")) or "?"))
    rows.append(("9 --user privilege drop", f"every thread {g('privileges', 'uid_gid_of_every_thread')} "
                 f"({g('privileges', 'threads_checked')} threads); root-only 0600 file: {g('privileges', 'root_only_file_status')}; "
                 f"access log opened before the drop: {g('privileges', 'access_log_opened_before_drop')}; non-root naming root: "
                 f"{g('privileges', 'non_root_naming_root')}",
                 ", ".join(v for k, v in tests.items() if k.startswith("reliability_privileges")) or "?"))
    p(table(rows, ("item", "figure", "verdict")) + "\n")

    p("## 1-5, 9: the reliability tests\n")
    p("`WAITER_RELIABILITY=" + mode + " cargo nextest run --release -p waiter --test-threads 1 "
      "-E 'binary(/^reliability_/)'` (crates/waiter/tests/reliability_*.rs; corpus in "
      "crates/waiter/tests/reliability/bad_requests.tsv).\n")
    p(section(figures, "tests") + "\n")
    for item, title in (("emfile", "2: descriptor exhaustion (prlimit --nofile=256:256)"),
                        ("connect_close", "3: connect/close cycles (FIN)"), ("connect_reset", "3: connect/reset cycles (RST)"), ("half_open", "3: half-open and half-closed connections"),
                        ("pipelined", "3: 10,000 pipelined requests in one stream"), ("resets", "3: clients resetting mid-response"),
                        ("files", "4: files changing while sent"), ("shutdown", "5: SIGTERM under load"),
                        ("privileges", "9: --user nobody, started as root")):
        p(f"### {title}\n")
        p(section(figures, item) + "\n")
    p("## 6: slow clients (1,000 attacking connections each)\n")
    p("Server `taskset -c 1 waiter serve --workers 1 --header-timeout T --send-timeout T` (T: 25 s quick, 45 s long, see "
      "the table); normal clients `taskset -c 0 wrk -t1 -c50` on a 1 KiB file; attackers on CPU 0 below wrk: "
      "`slowhttptest -c 1000 -r 500 -i 5 -H` (slowloris), `reliability/slow_body.py` (slow body: 1,000 POSTs announcing "
      "8192 bytes, a body byte every 5 s, never closing; slowhttptest -B closes its connection when the 405 arrives, so "
      "it never held the server's connections) and `slowhttptest -X -k 8 -n 2 -w 32 -y 64 -z 32` on a 1 MiB file "
      "(slow read); all under `flock /tmp/waiter-bench.lock`.\n")
    p("The req/s verdict comes from the interleaved pairs below (one method for the three attacks). This first table "
      "is one attack each, lasting longer than the timeouts, with 3 wrk runs in it: who cuts the attackers off, "
      "and the server's memory and descriptors.\n")
    cut_by = {
        "slowloris": "--header-timeout: a head not complete in time gets 408 and is closed",
        "slow_body": "--header-timeout: POST is answered 405 at once; the announced body (≤ 64 KiB) is read "
                     "and discarded until the head's deadline, then the connection closes",
        "slow_read": "--send-timeout: a write the client leaves no room for within it ends the connection",
    }
    rows = []
    for name in ATTACKS:
        f = lambda m: g(f"slow_{name}", m)
        rows.append((name, f("rps_under_attack"), f("percent_of_baseline"), f("server_cpu_percent_during_wrk"),
                     f("attacker_cpu_percent_during_wrk"), f("peak_connected"), f("server_fds_during_wrk"),
                     f("server_fds_3s_before_attack_end"), f("first_closed_at_s"), f("connected_at_end"),
                     f("rss_kib_during"), cut_by[name]))
    p(f"Unattacked: {g('slow', 'baseline_rps')} req/s (server CPU {g('slow', 'baseline_server_cpu_percent')} %), "
      f"server RSS {g('slow', 'rss_kib_before')} KiB before the attacks, {g('slow', 'rss_kib_after')} KiB after, "
      f"{g('slow', 'fds_after_attacks')} descriptors after. Server flags: {g('slow', 'server_flags')}.\n")
    p(table(rows, ("attack", "req/s under attack", "% of unattacked", "server CPU %", "attacker CPU %",
                   "attackers connected (peak)", "server fds during wrk", "server fds 3 s before the attack ends",
                   "first attacker closed at (s)", "attackers left at end (attacker's view)",
                   "server RSS KiB", "cut off by")) + "\n")
    for item in ("slow", "slow_slowloris", "slow_slow_body", "slow_slow_read"):
        p(f"### {item} (all figures)\n")
        p(section(figures, item) + "\n")
    p("### The three attacks, attacked and unattacked runs interleaved\n")
    p("For each attack a fresh server as above; then, PAIRS times (`RELIABILITY_PAIRS`, default 8, quick 2; "
      "`pairs` in the table says how many this run made), one "
      "`wrk -t1 -c50` run without attack and one 4 s into a new attack of 1,000 connections (stopped after the run, "
      "and the server's descriptors back to their count before the next run), in ABBA order: the attacked run comes "
      "first in every second pair. `attacker_connections_at_server_per_pair` is the server's descriptors beyond the "
      "idle server's when wrk starts; `percent_per_pair` is each pair's attacked / unattacked req/s; the verdict "
      "uses its median.\n")
    rows = []
    for name in ATTACKS:
        f = lambda m: g(f"pairs_{name}", m)
        rows.append((name, f("pairs"), f("attacker_connections_at_server_per_pair"), f("unattacked_rps_median"),
                     f("attacked_rps_median"), f("percent_median"), f("percent_min_max").replace(" ", "–"),
                     f("percent_per_pair"), f("rss_kib_after"), f("fds_after")))
    p(table(rows, ("attack", "pairs", "attacker connections at the server", "unattacked req/s (median)",
                   "attacked req/s (median)", "% (median of pairs)", "% min–max", "% per pair", "RSS KiB after",
                   "fds after")) + "\n")
    for name in ATTACKS:
        p(f"#### pairs_{name} (all figures)\n")
        p(section(figures, f"pairs_{name}") + "\n")
    p("## 7: soak\n")
    p("**The rule** (issue 5): 10 minutes at 80 % of peak load; RSS, descriptor count and p99 latency flat, "
      "first minute vs last minute within 10 % (either way). The verdict above applies it to the figures below "
      "as they are: minute 1's and minute 10's p99, RSS and descriptors.\n")
    p("**What is measured.** Each minute is one `wrk` run of 60 s; its p99 is wrk's, over every request of that "
      "minute (wrk records each latency in a histogram of 1 µs buckets; no averaging of per-second values). "
      f"Before minute 1, {g('soak', 'warmup_s_not_counted', '?')} s of the same paced load are run and not counted. "
      "Server (CPU 1) and wrk (CPU 0) are pinned apart, at the scheduling the machine table shows; "
      "`minute_N_cpu` is each CPU's split over that minute (from /proc/stat; `steal` is time the hypervisor gave "
      "to other guests), which tells a minute disturbed from outside from a server that changed.\n")
    p("The peak is the median of three `wrk -t1 -c400` runs with a `delay()` of 0 (the paced client's own "
      "ceiling); then `wrk -t1 -c400 -d60s -s pace.lua`, whose "
      "`delay()` waits a random time (uniform in [0, 2 × mean] ms) between a response and the next request on "
      "each connection, the mean calibrated in two 10 s runs to 80 % of the peak (see run.sh). One-minute "
      "segments, server pinned as above; RSS, descriptors, threads and RssAnon read from "
      "/proc after each minute; "
      "`rss_growth_by_mapping` compares /proc/PID/smaps after the first and the last minute. Then, under the same load, "
      "the server is stopped twice for 1 s (SIGSTOP/SIGCONT), so that requests pile up on every connection at once: "
      "RSS that grows at the first stall only is malloc's high-water mark (freed memory kept for reuse), RSS that grows "
      "at each would be a leak.\n")
    p(section(figures, "soak") + "\n")
    p("## 8: fuzzing\n")
    if mode == "short":
        p("The short version: `FUZZ_WORK=... nice -n 19 fuzz/run.sh 15` (every target for 15 s from the checked-in "
          f"seeds, AddressSanitizer); figures from {work}/<target>.log.\n")
    else:
        p("`nice -n 19 fuzz/run.sh -runs=10000000` (cargo-fuzz, libFuzzer, AddressSanitizer); pg_message with "
          "`FUZZ_SANITIZER=none FUZZ_REPLAY=address` (no sanitizer, then every corpus input replayed under ASan: "
          "see fuzz/README.md); figures from fuzz/work/<target>.log and <target>.replay.log. A crash, hang or "
          "leak would leave its input in fuzz/artifacts/<target>/ and fail the run; each becomes a regression "
          "test.\n")
    p(table(fuzz, ("target", "executions", "exec/s", "seconds", "coverage", "files in fuzz/artifacts/<target>",
                   "verdict")) + "\n")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
