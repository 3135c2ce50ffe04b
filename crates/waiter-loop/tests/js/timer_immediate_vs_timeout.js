// Inside a timer callback, setImmediate beats setTimeout(0): the immediate
// runs in the check phase of the same tick, the new timer in a later timers
// phase (a timer started during the timers phase never runs in that pass).
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timeout');
  setTimeout(() => log('timeout from timeout'), 0);
  setImmediate(() => log('immediate from timeout'));
  process.nextTick(() => log('tick from timeout'));
}, 1);
