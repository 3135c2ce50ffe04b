// (k) async/await interleaving with next-ticks and microtasks.
//
// Node runs an async function synchronously up to its first `await`, while
// waiter's `lp.spawn(async { .. })` first polls the task from the microtask
// queue. The faithful twin of `lp.spawn(async { .. })` is therefore
// `queueMicrotask(async () => { .. })`. Each `await` of a settled value or
// promise costs one microtask hop in Node; a Rust `.await` on a ready future
// does not yield, so the twin awaits `yield_now()` where Node awaits a settled
// value. Awaiting a pending promise resumes one hop after it settles, as a
// task woken by a JoinHandle does.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

log('main');
queueMicrotask(async () => {
  log('task: start');
  await null;
  log('task: after await 1');
  process.nextTick(() => log('tick from task'));
  await null;
  log('task: after await 2');
  const inner = new Promise((resolve) => {
    queueMicrotask(() => {
      log('inner task: runs');
      resolve(42);
    });
  });
  const value = await inner;
  log(`task: inner resolved to ${value}`);
});
process.nextTick(() => log('tick 1'));
Promise.resolve()
  .then(() => {
    log('promise 1');
    process.nextTick(() => log('tick from promise 1'));
  })
  .then(() => log('promise 1 then'));
queueMicrotask(() => log('microtask 2'));
log('main end');
