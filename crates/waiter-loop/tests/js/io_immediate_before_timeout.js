// (b) Inside an I/O callback (fs.readFile completes in the poll phase), an
// immediate runs in the check phase of the same tick, so it always beats a
// zero-delay timer, which has to wait for the next timers phase. The
// callback's own next-ticks and microtasks run before either.
'use strict';
const fs = require('fs');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

fs.readFile(__filename, (err, data) => {
  if (err) throw err;
  log(`read callback (${data.length > 0 ? 'non-empty' : 'empty'})`);
  setTimeout(() => log('timeout 0'), 0);
  setImmediate(() => log('immediate'));
  Promise.resolve().then(() => log('promise'));
  process.nextTick(() => log('tick'));
});
log('sync end');
