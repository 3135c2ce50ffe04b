/* Shared by the libuv twins of the loop benchmarks (bench/loop.sh builds each
 * bench/libuv/NAME.c on its own; this header is included, not linked). */
#ifndef WAITER_BENCH_LIBUV_COMMON_H
#define WAITER_BENCH_LIBUV_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Exits with `what` and errno's message unless `ok` (named `require`: immediate.c has a uv_check_t `check`). */
static inline void require(int ok, const char *what) {
  if (!ok) {
    perror(what);
    exit(1);
  }
}

#endif
