// A cleared immediate holds the loop no more (clearImmediate drops its
// reference at once): with only an unref'd timer left, due by now, the
// loop does not run a tick at all, so that timer never fires.
'use strict';
const { spin } = require('../common');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => log('unref timer: must not fire'), 1).unref();
clearImmediate(setImmediate(() => log('cleared immediate: must not run')));
spin(5);
log('main end');
