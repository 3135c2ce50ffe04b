// Helpers shared by the programs in this folder (`require('./common')`).
// Not a program of its own: node_ordering.rs gives it no twin.
'use strict';
const net = require('net');

// Busy-waits `ms` milliseconds, holding the loop's thread.
function spin(ms) {
  const end = process.hrtime.bigint() + BigInt(ms) * 1000000n;
  while (process.hrtime.bigint() < end);
}

// A TCP server that reads and discards whatever its clients send, ignoring
// their errors (a client destroyed mid-stream resets its connection).
function sinkServer() {
  return net.createServer((conn) => {
    conn.on('error', () => {});
    conn.resume();
  });
}

module.exports = { spin, sinkServer };
