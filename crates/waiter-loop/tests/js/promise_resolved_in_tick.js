// A task awaiting a promise resumes one microtask after the promise is
// resolved: resolved from a next-tick, it runs after the microtasks queued
// before the resolve, and before the next immediate. The twin's promise is a
// hand-resolved future whose resolve wakes the task.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

let resolve = null;
const promise = new Promise((r) => {
  resolve = r;
});
// The twin of lp.spawn(async { .. }): see async_await.js.
queueMicrotask(async () => {
  log('task: waiting');
  const value = await promise;
  log(`task: got ${value}`);
  queueMicrotask(() => log('microtask from task'));
});
setImmediate(() => {
  log('immediate 1');
  process.nextTick(() => {
    log('tick: resolve(7)');
    resolve(7);
    process.nextTick(() => log('tick after resolve'));
  });
  queueMicrotask(() => log('microtask of immediate 1'));
});
setImmediate(() => log('immediate 2'));
