// (c) The check phase drains the next-tick queue and then the microtask queue
// after every single immediate (Node >= 11), not once at the end of the phase.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setImmediate(() => {
  log('immediate 1');
  Promise.resolve().then(() => log('immediate 1: promise'));
  process.nextTick(() => log('immediate 1: tick'));
});
setImmediate(() => {
  log('immediate 2');
  queueMicrotask(() => {
    log('immediate 2: microtask');
    process.nextTick(() => log('immediate 2: tick from microtask'));
  });
});
setImmediate(() => log('immediate 3'));
