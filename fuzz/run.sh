#!/usr/bin/env bash
# Fuzz every waiter-http parser target with cargo-fuzz (libFuzzer).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [LIBFUZZER_FLAG...]
#
#   fuzz/run.sh                  # 60 s per target
#   fuzz/run.sh 600              # 10 min per target
#   fuzz/run.sh -runs=10000000   # issue 5's long version: 10M executions per target, no time limit
#   FUZZ_TARGETS="path_resolve" fuzz/run.sh 30
#
# Targets build optimised with debug assertions and overflow checks (cargo-fuzz's
# defaults). Runs on stable Rust: cargo-fuzz needs `-Zsanitizer`, which RUSTC_BOOTSTRAP=1
# unlocks. FUZZ_SANITIZER=none (or address, the default) picks the sanitizer;
# if the AddressSanitizer build fails the script falls back to none.
# The checked-in seeds in fuzz/corpus/<target> are read only; what libFuzzer
# finds goes to fuzz/work/corpus/<target> (ignored by git), crashes to
# fuzz/artifacts/<target>/. Exits non-zero if any target crashed or hung.
# FUZZ_WORK=DIR puts the logs and the found corpus in DIR instead of fuzz/work
# (reliability/run.sh --quick, so that its short runs do not replace the long run's logs).
#
# FUZZ_REPLAY=address (with FUZZ_SANITIZER=none): after fuzzing a target without a
# sanitizer, run every input of its corpus (seeds and what the run found) once more under
# AddressSanitizer (libFuzzer -runs=0); the log is fuzz/work/<target>.replay.log. This is
# for targets whose executions ASan slows most: pg_message ran at ~4,000 exec/s per CPU
# second under ASan and ~45,000 without (its allocation-heavy error paths, and ASan's
# own checks counted as coverage features), while waiter-pg itself has no unsafe code.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

seconds=""
flags=()
for arg in "$@"; do
    case $arg in
        ''|*[!0-9]*) flags+=("$arg") ;;
        *) seconds=$arg ;;
    esac
done
runs_given=false
for f in "${flags[@]+"${flags[@]}"}"; do [[ $f == -runs=* ]] && runs_given=true; done
if [[ -z $seconds ]] && ! $runs_given; then seconds=60; fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/fuzz}
if ! rustc --version | grep -q nightly; then export RUSTC_BOOTSTRAP=1; fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

sanitizer=${FUZZ_SANITIZER:-address}
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
build() { for t in $targets; do cargo fuzz build --sanitizer "$1" "$t" || return 1; done; }
echo "== building ($sanitizer sanitizer, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
if ! build "$sanitizer"; then
    if [[ $sanitizer == none ]]; then exit 1; fi
    echo "== the $sanitizer build failed; falling back to --sanitizer none"
    sanitizer=none
    build none
fi

work_dir=${FUZZ_WORK:-fuzz/work}
mkdir -p "$work_dir"
summary=()
status=0
for target in $targets; do
    work=$work_dir/corpus/$target
    mkdir -p "$work" "fuzz/artifacts/$target"
    log=$work_dir/$target.log
    limit=()
    [[ -n $seconds ]] && limit=("-max_total_time=$seconds")
    echo "== $target: ${seconds:+$seconds s}${seconds:+ }${flags[*]+${flags[*]}} (log: $log)"
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$work" "fuzz/corpus/$target" -- \
        -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        "${limit[@]+"${limit[@]}"}" "${flags[@]+"${flags[@]}"}" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    if [[ $rc -eq 0 ]]; then
        verdict=ok
    else
        verdict="FAILED (exit $rc)"
        status=1
        grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -5 || true
        tail -20 "$log"
    fi
    if [[ -n ${FUZZ_REPLAY:-} && $FUZZ_REPLAY != "$sanitizer" ]]; then
        replay=$work_dir/$target.replay.log
        echo "== $target: replaying its corpus under --sanitizer $FUZZ_REPLAY (log: $replay)"
        set +e
        cargo fuzz run --sanitizer "$FUZZ_REPLAY" "$target" "$work" "fuzz/corpus/$target" -- \
            -runs=0 -timeout=10 -rss_limit_mb=2048 >"$replay" 2>&1
        rrc=$?
        set -e
        replayed=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$replay" | tail -1)
        if [[ $rrc -eq 0 ]]; then
            verdict+=", $FUZZ_REPLAY replay of ${replayed:-?} inputs ok"
        else
            verdict+=", $FUZZ_REPLAY replay FAILED (exit $rrc)"
            status=1
            tail -20 "$replay"
        fi
    fi
    line=$(printf '%-14s %12s execs %9s exec/s %6s s  %-10s %s' "$target" "${execs:-?}" "${rate:-?}" "${secs:-?}" "${cov:-}" "$verdict")
    if [[ -n ${rate:-} && $rate -gt 0 ]]; then
        line+="  (10M execs: ~$((10000000 / rate)) s)"
    fi
    summary+=("$line")
done

echo
echo "== summary ($sanitizer sanitizer)"
printf '%s\n' "${summary[@]}"
exit $status
