// (f) An interval cleared from its own callback after exactly three runs:
// it never runs a fourth time, and the cleared interval no longer keeps the
// process alive.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

let runs = 0;
const interval = setInterval(() => {
  runs += 1;
  log(`interval run ${runs}`);
  process.nextTick(() => log(`tick after run ${runs}`));
  if (runs === 3) {
    clearInterval(interval);
    log('interval cleared');
  }
}, 1);
