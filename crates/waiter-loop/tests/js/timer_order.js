// (i) Timers with equal delays fire in creation order; timers with different
// delays fire in deadline order, whatever order they were created in.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => log('20 ms a'), 20);
setTimeout(() => log('10 ms a'), 10);
setTimeout(() => log('20 ms b'), 20);
setTimeout(() => log('5 ms a'), 5);
setTimeout(() => log('10 ms b'), 10);
setTimeout(() => log('5 ms b'), 5);
setTimeout(() => log('20 ms c'), 20);
