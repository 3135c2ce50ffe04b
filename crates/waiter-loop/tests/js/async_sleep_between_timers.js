// A task woken by a timer resumes (a microtask) right after that timer's
// callback, before the next timer of the same timers phase. Equal delays:
// the three timers fire in creation order in one pass.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

setTimeout(() => log('timeout A'), 5);
// The twin of lp.spawn(async { .. }): see async_await.js.
queueMicrotask(async () => {
  log('task: sleeping');
  await sleep(5);
  log('task: woke up');
  process.nextTick(() => log('tick from task'));
});
queueMicrotask(() => setTimeout(() => log('timeout C'), 5));
