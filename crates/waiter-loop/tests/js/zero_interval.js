// setInterval(f, 0) repeats every 1 ms (a delay under 1 ms is 1 ms), not
// every loop iteration: three runs take at least 3 ms from the start.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

const start = process.hrtime.bigint();
let runs = 0;
const interval = setInterval(() => {
  runs += 1;
  log(`interval run ${runs}`);
  if (runs === 3) {
    clearInterval(interval);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    log(`three runs took at least 3 ms: ${ms >= 3}`);
  }
}, 0);
