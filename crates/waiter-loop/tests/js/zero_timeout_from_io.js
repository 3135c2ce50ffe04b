// Inside an I/O callback (fs.readFile completes in the poll phase),
// setTimeout(g, 0) is a 1 ms timer like setTimeout(f, 1) started just before
// it, so it runs after f, not in the next timers phase ahead of it. The
// immediate queued there runs first, in the check phase of the same tick.
// (Started in the other order, 0 then 1, the timers run in that order on
// either rule; whether they share one timers phase is not fixed in Node,
// whose timers take the loop time, updated, as each one starts.)
'use strict';
const fs = require('fs');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

fs.readFile(__filename, (err) => {
  if (err) throw err;
  log('read callback');
  setTimeout(() => log('timeout 1 ms, started first'), 1);
  setTimeout(() => log('timeout 0 ms, started second'), 0);
  setImmediate(() => log('immediate'));
});
