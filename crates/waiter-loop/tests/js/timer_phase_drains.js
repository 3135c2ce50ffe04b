// A next-tick or microtask queued by a timer runs before the next timer of
// the same timers phase.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => {
  log('timeout 1');
  Promise.resolve().then(() => log('timeout 1: promise'));
  process.nextTick(() => log('timeout 1: tick'));
}, 5);
setTimeout(() => {
  log('timeout 2');
  queueMicrotask(() => log('timeout 2: microtask'));
}, 5);
setTimeout(() => log('timeout 3'), 5);
