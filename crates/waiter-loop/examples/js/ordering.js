// Run: node examples/js/ordering.js — the Node twin of examples/ordering.rs.
//
// One callback of each kind, each printing libuv's loop count and its phase.
// Where Node differs from waiter, the difference is Node's, not the order's:
// - Node has no public verb for libuv's pending phase (waiter's `defer`), so
//   there is no pending line here.
// - setTimeout(f, 0) means 1 ms (in waiter too): the main script spins 2 ms
//   so the timer is due in the first timers phase, as the Rust twin does.
// - The socket-pair watch becomes a TCP client's 'connect' (poll phase), and
//   Watch::close its destroy() and 'close' (libuv's close callback). The
//   thread-pool job is fs.readFile, whose callback runs in the poll phase.
// - The count is libuv's (performance.nodeTiming.uvMetricsInfo.loopCount,
//   Node >= 20.18), which goes up just before each poll, not after each tick;
//   and since libuv 1.45 timers run at the end of an iteration. So Node's
//   numbers run one ahead of waiter's in the poll, check and close phases.
'use strict';
const fs = require('fs');
const net = require('net');
const { performance } = require('perf_hooks');

function loopCount() {
  const info = performance.nodeTiming.uvMetricsInfo;
  return info === undefined ? '?' : String(info.loopCount);
}

function say(phase, what) {
  console.log(`${loopCount().padStart(10)}  ${phase.padEnd(8)}  ${what}`);
}

function spin(ms) {
  const end = process.hrtime.bigint() + BigInt(ms) * 1000000n;
  while (process.hrtime.bigint() < end);
}

console.log('loop count  phase     callback');
say('main', 'the main script schedules one callback of each kind');

setTimeout(() => {
  say('timers', 'setTimeout(0)');
  process.nextTick(() => say('timers', '  nextTick queued by the timer: runs before the next callback'));
}, 0);

const server = net.createServer((conn) => conn.resume());
server.listen(0, '127.0.0.1', () => {
  const socket = net.connect(server.address().port, '127.0.0.1', () => {
    say('poll', "'connect': the socket is connected");
    socket.destroy();
  });
  socket.on('close', () => {
    say('closing', "'close' after destroy() in the poll phase: its close callback");
    server.close();
  });
});

fs.readFile(__filename, (err) => {
  if (err) throw err;
  say('poll', 'fs.readFile done: the iteration depends on the pool thread');
});

setImmediate(() => {
  say('check', 'setImmediate');
  setImmediate(() => say('check', 'setImmediate from an immediate: the next iteration'));
});

// Queued last, run first: they drain before the first tick begins.
queueMicrotask(() => say('main', 'queueMicrotask: after every nextTick'));
process.nextTick(() => say('main', 'nextTick: drained as soon as the main script ends'));

spin(2);
process.on('exit', () => say('done', 'the loop is empty; the process exits'));
