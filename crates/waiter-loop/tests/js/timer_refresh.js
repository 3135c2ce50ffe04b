// timeout.refresh() restarts a timer from now with its original delay: a
// 10 ms timer refreshed at 5 ms fires after a 12 ms one. A timer refreshed
// by a timer of the same timers phase waits for a later pass.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

const timeout = setTimeout(() => log('10 ms timer, 10 ms after its refresh'), 10);
setTimeout(() => {
  log('5 ms: refresh the 10 ms timer');
  timeout.refresh();
}, 5);
setTimeout(() => log('12 ms'), 12);
