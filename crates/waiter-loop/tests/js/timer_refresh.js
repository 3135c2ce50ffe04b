// timeout.refresh() restarts a timer from now with its original delay: a
// 40 ms timer refreshed at 20 ms fires after a 50 ms one. A timer refreshed
// by a timer of the same timers phase waits for a later pass.
//
// The margins are 10 ms and more, and the 50 ms timer is started first, so
// the order holds however long this script is held up between two lines
// (up to 20 ms): with 10/5/12 ms, node itself printed other orders under
// load (a stall of over 3 ms before the 12 ms timer, or of over 5 ms
// before the 5 ms one, which then re-armed a fired timer).
'use strict';
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

setTimeout(() => log('50 ms'), 50);
const timeout = setTimeout(() => log('40 ms timer, 40 ms after its refresh'), 40);
setTimeout(() => {
  log('20 ms: refresh the 40 ms timer');
  timeout.refresh();
}, 20);
