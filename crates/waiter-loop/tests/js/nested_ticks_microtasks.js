// (e) Next-ticks queued by microtasks and microtasks queued by next-ticks,
// several levels deep: the next-tick queue drains first, then the microtask
// queue (including microtasks queued meanwhile), and again until both are
// empty. Shown in the main script and after an immediate.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

function nest(at) {
  process.nextTick(() => {
    log(`${at}: tick A`);
    Promise.resolve().then(() => {
      log(`${at}: microtask from tick A`);
      process.nextTick(() => {
        log(`${at}: tick from microtask from tick A`);
        queueMicrotask(() => {
          log(`${at}: microtask from tick from microtask`);
          process.nextTick(() => log(`${at}: tick, level 5`));
        });
      });
      queueMicrotask(() => log(`${at}: microtask from microtask from tick A`));
    });
    process.nextTick(() => log(`${at}: tick from tick A`));
  });
  Promise.resolve().then(() => {
    log(`${at}: microtask B`);
    process.nextTick(() => log(`${at}: tick from microtask B`));
    queueMicrotask(() => log(`${at}: microtask from microtask B`));
  });
}

nest('main');
setImmediate(() => {
  log('immediate');
  nest('immediate');
});
setImmediate(() => log('immediate 2'));
