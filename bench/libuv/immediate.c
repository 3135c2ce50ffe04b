/* immediate on libuv: the C twin of the `immediate` scenario in
 * crates/waiter-loop/benches/next_tick.rs (see there for the pairing).
 *
 *   cc -O2 bench/libuv/immediate.c -luv -o immediate_uv && ./immediate_uv [runs]
 *
 * Prints "RESULT immediate libuv <ns per callback>" per run. Node's setImmediate recipe: a
 * uv_check handle whose callback counts to 1,000,000 (one call per loop iteration) and an
 * idle uv_idle handle that keeps the poll timeout at zero.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#include "common.h"

#define CALLBACKS 1000000

static uv_check_t check;
static uv_idle_t idle;
static long left;

static void on_idle(uv_idle_t *h) { (void)h; }

static void on_check(uv_check_t *h) {
  (void)h;
  if (--left == 0) {
    uv_check_stop(&check);
    uv_idle_stop(&idle);
  }
}

static double immediate(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_check_init(&loop, &check);
  uv_idle_init(&loop, &idle);
  left = CALLBACKS;
  double t0 = now_ns();
  uv_check_start(&check, on_check);
  uv_idle_start(&idle, on_idle);
  uv_run(&loop, UV_RUN_DEFAULT);
  double t1 = now_ns();
  assert(left == 0);
  uv_close((uv_handle_t *)&check, NULL);
  uv_close((uv_handle_t *)&idle, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return (t1 - t0) / CALLBACKS;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  for (int r = 0; r <= runs; r++) { /* run 0 warms up and is not reported */
    double ns = immediate();
    if (r == 0) continue;
    printf("RESULT immediate libuv %.3f\n", ns);
    fflush(stdout);
  }
  return 0;
}
