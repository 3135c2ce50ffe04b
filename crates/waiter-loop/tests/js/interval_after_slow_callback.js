// An interval's next run is scheduled from the time its callback starts, read
// fresh (Node's listOnTimeout takes `start = getLibuvNow()` right before the
// callback), not from the time cached when the timers phase began. Here the
// main script spins 50 ms, so a 10 ms timeout and the 40 ms interval are both
// overdue in the first timers phase; the timeout spins another 50 ms, so the
// interval's first run starts at ~100 ms and its second is due at ~140 ms,
// after the 120 ms timeout. Rescheduled from the phase's cached time (~50 ms),
// the second run would be due at ~90 ms, already past, and come first.
'use strict';
const { spin } = require('./common');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('slow 10 ms timeout');
  spin(50);
}, 10);
let runs = 0;
const interval = setInterval(() => {
  runs += 1;
  log(`interval run ${runs}`);
  if (runs === 2) clearInterval(interval);
}, 40);
setTimeout(() => log('120 ms timeout'), 120);
spin(50);
