/* tick_cost on libuv: the C twin of crates/waiter-loop/benches/tick_cost.rs (see there).
 * One loop iteration with 1 active and N idle Unix sockets, each watched with uv_poll_start
 * (UV_READABLE); libuv polls with epoll, level-triggered. The active socket's callback reads
 * its byte and writes one back from the peer, so every iteration has exactly one ready
 * descriptor. Only the N that fit under RLIMIT_NOFILE (raised to the hard limit) are run.
 *
 *   cc -O2 bench/libuv/tick_cost.c -luv -o tick_cost_uv && ./tick_cost_uv [runs]
 *
 * Prints "RESULT tick_cost/<N> libuv <ns per iteration>" per run.
 */
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common.h"

static const int IDLE[] = {100, 300, 1000, 3000, 10000, 20000, 30000, 50000};
#define SIZES (int)(sizeof IDLE / sizeof IDLE[0])
#define SPARE_FDS 64
#define WARMUP_TICKS 50
#define MIN_TICKS 200
#define TARGET_NS 2e8

static int kick_fd, active_fd;
static long ticks, stop_at;
static uv_poll_t active;

static void on_idle(uv_poll_t *h, int status, int events) {
  (void)h, (void)status;
  fprintf(stderr, "an idle socket became ready: %d\n", events);
  exit(1);
}

static void on_active(uv_poll_t *h, int status, int events) {
  (void)h, (void)status, (void)events;
  char buf[64];
  require(read(active_fd, buf, sizeof buf) == 1, "read the active socket");
  if (++ticks >= stop_at)
    uv_poll_stop(&active);
  else
    require(write(kick_fd, "x", 1) == 1, "re-arm the active socket");
}

static double run_ticks(uv_loop_t *loop, long n) {
  ticks = 0, stop_at = n;
  double t0 = now_ns();
  uv_poll_start(&active, UV_READABLE, on_active);
  require(write(kick_fd, "x", 1) == 1, "kick");
  /* The idle watchers keep the loop alive: run one iteration at a time until done. */
  while (ticks < stop_at) uv_run(loop, UV_RUN_ONCE);
  return now_ns() - t0;
}

static double tick_cost(int idle) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int *fds = malloc(idle * sizeof *fds);
  uv_poll_t *polls = malloc(idle * sizeof *polls);
  for (int i = 0; i < idle; i += 2) {
    require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, &fds[i]) == 0, "socketpair");
    for (int j = i; j < i + 2; j++) {
      uv_poll_init(&loop, &polls[j], fds[j]);
      uv_poll_start(&polls[j], UV_READABLE, on_idle);
    }
  }
  int pair[2];
  require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) == 0, "socketpair");
  kick_fd = pair[0], active_fd = pair[1];
  uv_poll_init(&loop, &active, active_fd);
  double warm = run_ticks(&loop, WARMUP_TICKS);
  long n = (long)(TARGET_NS / (warm / WARMUP_TICKS));
  if (n < MIN_TICKS) n = MIN_TICKS;
  double ns = run_ticks(&loop, n) / n;
  for (int i = 0; i < idle; i++) uv_close((uv_handle_t *)&polls[i], NULL);
  uv_close((uv_handle_t *)&active, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  for (int i = 0; i < idle; i++) close(fds[i]);
  close(kick_fd), close(active_fd);
  free(fds), free(polls);
  return ns;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  struct rlimit lim;
  require(getrlimit(RLIMIT_NOFILE, &lim) == 0, "getrlimit");
  lim.rlim_cur = lim.rlim_max;
  require(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
  int sizes[SIZES + 1], count = 0;
  for (int i = 0; i < SIZES; i++)
    if (IDLE[i] + SPARE_FDS <= (long)lim.rlim_cur) sizes[count++] = IDLE[i];
  if (count < SIZES) { /* the largest N that fits, rounded down to a thousand, as the Rust side */
    int fits = ((int)lim.rlim_cur - SPARE_FDS) / 1000 * 1000;
    if (count == 0 || fits > sizes[count - 1]) sizes[count++] = fits;
  }
  for (int r = 0; r <= runs; r++) { /* round 0 warms up and is not reported */
    for (int i = 0; i < count; i++) {
      double ns = tick_cost(sizes[i]);
      if (r > 0) printf("RESULT tick_cost/%d libuv %.3f\n", sizes[i], ns);
      fflush(stdout);
    }
  }
  return 0;
}
