// Two thread-pool completions; the first callback throws, the second still
// runs. (The twin's two results reach the loop in one wake-up.)
'use strict';
const fs = require('fs');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));
process.on('uncaughtException', (e) => log('uncaught: ' + e.message));

let done = 0;
for (let i = 0; i < 2; i++) {
  fs.readFile(__filename, () => {
    done++;
    log('read done ' + done);
    if (done === 1) throw new Error('boom');
  });
}
