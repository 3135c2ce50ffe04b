# Sourced by bench/api/run.sh and bounds.sh: how servers and load generators are scheduled.
# BENCH_RT=nice (default): nice -20; fifo: SCHED_FIFO 10; 0: neither. Sets the array RT.
case ${BENCH_RT:-nice} in
    nice) RT=(nice -n -20) ;;
    fifo | 1) RT=(chrt -f 10) ;;
    0 | none) RT=() ;;
    *) echo "$(basename "$0"): BENCH_RT must be nice, fifo or 0" >&2; exit 2 ;;
esac
