/* million_timers and timer_cancel on libuv: the C twin of
 * crates/waiter-loop/benches/million_timers.rs (see there for the pairing).
 *
 *   cc -O2 bench/libuv/million_timers.c -luv -o million_timers_uv && ./million_timers_uv [runs]
 *
 * Prints "RESULT <scenario> libuv <ns per timer>" per run.
 * million_timers: uv_timer_init + uv_timer_start(1 ms) on 1,000,000 handles, then uv_run.
 * timer_cancel:   uv_timer_init + uv_timer_start(1 ms), then uv_timer_stop on each, then uv_run.
 * The handles live in one array allocated before the clock starts (libuv's handles are
 * caller-owned memory; waiter's and tokio's timers allocate their own).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "common.h"

#define TIMERS 1000000

static uv_timer_t *timers;
static long fired;

static void on_timer(uv_timer_t *t) {
  (void)t;
  fired++;
}

static void close_all(uv_loop_t *loop) {
  for (int i = 0; i < TIMERS; i++) uv_close((uv_handle_t *)&timers[i], NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
}

/* Starts every timer, each due in 1 ms. */
static void start_all(uv_loop_t *loop) {
  for (int i = 0; i < TIMERS; i++) {
    uv_timer_init(loop, &timers[i]);
    uv_timer_start(&timers[i], on_timer, 1, 0);
  }
}

static double million_timers(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fired = 0;
  double t0 = now_ns();
  start_all(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  double t1 = now_ns();
  assert(fired == TIMERS);
  close_all(&loop);
  return (t1 - t0) / TIMERS;
}

static double timer_cancel(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fired = 0;
  double t0 = now_ns();
  start_all(&loop);
  for (int i = 0; i < TIMERS; i++) uv_timer_stop(&timers[i]);
  uv_run(&loop, UV_RUN_DEFAULT);
  double t1 = now_ns();
  assert(fired == 0);
  close_all(&loop);
  return (t1 - t0) / TIMERS;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  timers = malloc(TIMERS * sizeof *timers);
  if (!timers) return 1;
  memset(timers, 0, TIMERS * sizeof *timers); /* fault the pages in before the first run */
  for (int r = 0; r <= runs; r++) { /* run 0 warms up and is not reported */
    double timers_ns = million_timers(), cancel_ns = timer_cancel();
    if (r == 0) continue;
    printf("RESULT million_timers libuv %.3f\n", timers_ns);
    printf("RESULT timer_cancel libuv %.3f\n", cancel_ns);
    fflush(stdout);
  }
  free(timers);
  return 0;
}
