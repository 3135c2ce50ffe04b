// A timer's deadline is taken from a fresh clock when it starts (Node's
// getLibuvNow() updates the loop's time first; waiter reads the clock), not
// from the time cached at the start of the tick: two 40 ms timers started
// 20 ms apart fire 20 ms apart, and an immediate queued by the first runs
// in between. (Started from libuv's cached time, they would fire together.)
'use strict';
const { spin } = require('./common');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timeout A');
  setImmediate(() => log('immediate from A'));
}, 40);
spin(20);
setTimeout(() => log('timeout B, started 20 ms later'), 40);
