// An interval whose callback throws once keeps firing: Node's listOnTimeout
// re-arms it in a `finally`, and the 'uncaughtException' handler lets the
// program go on. (The twin catches the panic out of `run` and runs again.)
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));
process.on('uncaughtException', (e) => log('uncaught: ' + e.message));

let runs = 0;
const interval = setInterval(() => {
  runs++;
  log('interval run ' + runs);
  if (runs === 1) throw new Error('boom');
  if (runs === 3) clearInterval(interval);
}, 5);
