// Node sets a timer delay under 1 ms to 1 ms: setTimeout(f, 0) is a 1 ms
// timer, so it runs after a 1 ms timer started before it (equal delays fire
// in start order), never before it.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => log('timeout 1 ms, started first'), 1);
setTimeout(() => log('timeout 0 ms, started second'), 0);
log('main end');
