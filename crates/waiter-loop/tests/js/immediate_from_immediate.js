// (d) An immediate queued while the check phase runs (by an immediate, or by a
// microtask drained after one) waits for the next tick: a timer that is due by
// then runs first. Node's setTimeout(0) means 1 ms, so the first immediate
// spins for 3 ms to make the timer certainly due at the next timers phase.
'use strict';
const { spin } = require('./common');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setImmediate(() => {
  log('immediate 1');
  setImmediate(() => log('immediate from immediate 1'));
  queueMicrotask(() => {
    log('microtask of immediate 1');
    setImmediate(() => log('immediate from microtask'));
  });
  setTimeout(() => log('timeout'), 0);
  spin(3);
});
setImmediate(() => log('immediate 2'));
