// (a) The main script: synchronous code, then every next-tick, then every
// microtask (promise reactions and queueMicrotask alike, in queueing order),
// then the check phase runs the immediates.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setImmediate(() => log('immediate 1'));
Promise.resolve().then(() => log('promise 1'));
process.nextTick(() => log('tick 1'));
queueMicrotask(() => log('microtask 2'));
setImmediate(() => log('immediate 2'));
process.nextTick(() => log('tick 2'));
Promise.resolve().then(() => log('promise 3'));
log('sync end');
