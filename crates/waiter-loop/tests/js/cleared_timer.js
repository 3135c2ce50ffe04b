// (g) A cleared timer never fires: cleared from the main script, cleared by
// an earlier timer of the same timers phase (it was already due), and a
// cleared immediate skipped by an earlier immediate of the same check phase.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

const never = setTimeout(() => log('cleared in main: must not fire'), 2);
clearTimeout(never);
let second = null;
setTimeout(() => {
  log('timeout 1 clears timeout 2');
  clearTimeout(second);
}, 5);
second = setTimeout(() => log('timeout 2: must not fire'), 5);
setTimeout(() => {
  log('timeout 3');
  let victim = null;
  setImmediate(() => {
    log('immediate 1 clears immediate 2');
    clearImmediate(victim);
  });
  victim = setImmediate(() => log('immediate 2: must not fire'));
  setImmediate(() => log('immediate 3'));
}, 5);
