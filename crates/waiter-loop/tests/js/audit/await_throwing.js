// An async function that throws rejects its promise, and awaiting that
// promise throws in the awaiter (audit.rs: a panicked task's JoinHandle
// panics at its `await`).
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

async function inner() {
  await null;
  throw new Error('boom');
}

(async () => {
  try {
    await inner();
    log('not reached');
  } catch (e) {
    log('awaiter got: ' + e.message);
  }
})();
