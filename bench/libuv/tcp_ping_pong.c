/* tcp_ping_pong on libuv: the C twin of crates/waiter-loop/benches/tcp_ping_pong.rs (see there
 * for the pairing). One TCP connection on 127.0.0.1, both ends on one loop, 100,000 round
 * trips of a 64-byte message; the pair is connected with blocking calls before the clock
 * starts, then made non-blocking with TCP_NODELAY.
 *
 *   cc -O2 bench/libuv/tcp_ping_pong.c -luv -o tcp_ping_pong_uv && ./tcp_ping_pong_uv [runs]
 *
 * Prints per run "RESULT tcp_ping_pong libuv <ns per round trip>" (uv_tcp_t streams:
 * uv_tcp_open, uv_read_start, uv_write) and "RESULT tcp_ping_pong/watch libuv <ns>"
 * (uv_poll_t on the raw descriptors, reading into 4 KiB until a short read, as waiter's
 * watch callbacks do).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common.h"

#define TRIPS 100000
#define MSG 64
#define BUF 4096

/* A connected pair on 127.0.0.1, non-blocking, TCP_NODELAY: fds[0] client, fds[1] server. */
static void connected_pair(int fds[2]) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  require(lfd >= 0, "socket");
  require(bind(lfd, (struct sockaddr *)&addr, sizeof addr) == 0, "bind");
  require(listen(lfd, 1) == 0, "listen");
  require(getsockname(lfd, (struct sockaddr *)&addr, &len) == 0, "getsockname");
  fds[0] = socket(AF_INET, SOCK_STREAM, 0);
  require(connect(fds[0], (struct sockaddr *)&addr, sizeof addr) == 0, "connect");
  fds[1] = accept(lfd, NULL, NULL);
  require(fds[1] >= 0, "accept");
  close(lfd);
  for (int i = 0; i < 2; i++) {
    int one = 1;
    require(fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) == 0, "fcntl");
    require(setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "nodelay");
  }
}

static char ping[MSG];
static long trips;
static size_t pending;

/* ---- uv_tcp_t streams ---- */

static uv_tcp_t client, server;
static uv_write_t client_req, server_req;
static char client_buf[BUF], server_buf[BUF];

static void alloc_client(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  (void)h, (void)size;
  *buf = uv_buf_init(client_buf, BUF);
}

static void alloc_server(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  (void)h, (void)size;
  *buf = uv_buf_init(server_buf, BUF);
}

static void written(uv_write_t *req, int status) {
  (void)req;
  assert(status == 0);
}

static void server_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  if (n <= 0) return;
  /* One write in flight at a time: the echo is written before the next ping is sent. */
  uv_buf_t out = uv_buf_init(buf->base, n);
  require(uv_write(&server_req, s, &out, 1, written) == 0, "uv_write echo");
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  if (n <= 0) return;
  pending += n;
  while (pending >= MSG) {
    pending -= MSG;
    if (++trips == TRIPS) {
      uv_read_stop((uv_stream_t *)&client);
      uv_read_stop((uv_stream_t *)&server);
      return;
    }
    uv_buf_t out = uv_buf_init(ping, MSG);
    require(uv_write(&client_req, s, &out, 1, written) == 0, "uv_write ping");
  }
}

static double streams(void) {
  uv_loop_t loop;
  int fds[2];
  connected_pair(fds);
  uv_loop_init(&loop);
  uv_tcp_init(&loop, &client);
  uv_tcp_init(&loop, &server);
  require(uv_tcp_open(&client, fds[0]) == 0, "uv_tcp_open");
  require(uv_tcp_open(&server, fds[1]) == 0, "uv_tcp_open");
  trips = 0, pending = 0;
  double t0 = now_ns();
  uv_read_start((uv_stream_t *)&server, alloc_server, server_read);
  uv_read_start((uv_stream_t *)&client, alloc_client, client_read);
  uv_buf_t out = uv_buf_init(ping, MSG);
  uv_write(&client_req, (uv_stream_t *)&client, &out, 1, written);
  uv_run(&loop, UV_RUN_DEFAULT);
  double t1 = now_ns();
  assert(trips == TRIPS);
  uv_close((uv_handle_t *)&client, NULL);
  uv_close((uv_handle_t *)&server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return (t1 - t0) / TRIPS;
}

/* ---- uv_poll_t on raw descriptors ---- */

static uv_poll_t client_poll, server_poll;
static int client_fd, server_fd;

/* Reads until a short read or EAGAIN, calling got() per chunk. */
static void drain(int fd, char *buf, void (*got)(char *, ssize_t)) {
  for (;;) {
    ssize_t n = read(fd, buf, BUF);
    if (n > 0) got(buf, n);
    if (n > 0 && n == BUF) continue;
    if (n < 0 && errno != EAGAIN) {
      perror("read");
      exit(1);
    }
    return;
  }
}

static void echo(char *buf, ssize_t n) { require(write(server_fd, buf, n) == n, "echo"); }

static void count(char *buf, ssize_t n) {
  (void)buf;
  pending += n;
}

static void on_server(uv_poll_t *h, int status, int events) {
  (void)h, (void)status, (void)events;
  drain(server_fd, server_buf, echo);
}

static void on_client(uv_poll_t *h, int status, int events) {
  (void)h, (void)status, (void)events;
  drain(client_fd, client_buf, count);
  while (pending >= MSG) {
    pending -= MSG;
    if (++trips == TRIPS) {
      uv_poll_stop(&client_poll);
      uv_poll_stop(&server_poll);
      return;
    }
    require(write(client_fd, ping, MSG) == MSG, "ping");
  }
}

static double polls(void) {
  uv_loop_t loop;
  int fds[2];
  connected_pair(fds);
  client_fd = fds[0], server_fd = fds[1];
  uv_loop_init(&loop);
  uv_poll_init(&loop, &client_poll, client_fd);
  uv_poll_init(&loop, &server_poll, server_fd);
  trips = 0, pending = 0;
  double t0 = now_ns();
  uv_poll_start(&server_poll, UV_READABLE, on_server);
  uv_poll_start(&client_poll, UV_READABLE, on_client);
  require(write(client_fd, ping, MSG) == MSG, "first ping");
  uv_run(&loop, UV_RUN_DEFAULT);
  double t1 = now_ns();
  assert(trips == TRIPS);
  uv_close((uv_handle_t *)&client_poll, NULL);
  uv_close((uv_handle_t *)&server_poll, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  close(client_fd);
  close(server_fd);
  return (t1 - t0) / TRIPS;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  memset(ping, 7, MSG);
  for (int r = 0; r <= runs; r++) { /* run 0 warms up and is not reported */
    double stream_ns = streams(), poll_ns = polls();
    if (r == 0) continue;
    printf("RESULT tcp_ping_pong libuv %.3f\n", stream_ns);
    printf("RESULT tcp_ping_pong/watch libuv %.3f\n", poll_ns);
    fflush(stdout);
  }
  return 0;
}
