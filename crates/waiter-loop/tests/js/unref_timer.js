// (h) An unref'd timer does not hold the loop: the process exits once the
// referenced timers have run, and the unref'd 60 s timer never prints (the
// test harness gives up on a program after 30 s). An unref'd timer that
// comes due while something else keeps the loop alive still fires, and
// ref() makes a timer hold the loop again.
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

const long = setTimeout(() => log('unref 60 s: must not fire'), 60000);
long.unref();
log(`long hasRef: ${long.hasRef()}`);
setTimeout(() => log('unref 1 ms fires while the loop lives'), 1).unref();
// Started before the 30 ms timer, so it is due first however long this
// script is held up between the two (a stall of over 10 ms between them,
// with a log line in between, once put 30 ms first under load).
setTimeout(() => log('ref 20 ms'), 20);
const back = setTimeout(() => log('re-ref 30 ms fires'), 30);
back.unref();
back.ref();
log(`back hasRef: ${back.hasRef()}`);
