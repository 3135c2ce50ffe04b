// (j) Close callbacks run in the close phase, after the immediates of the
// same tick: a socket destroyed in its I/O callback ('connect', poll phase)
// emits 'close' from libuv's close callback, after the immediate queued next
// to it and before an immediate that immediate queued (next tick).
'use strict';
const net = require('net');
const { sinkServer } = require('./common');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

const server = sinkServer();
server.listen(0, '127.0.0.1', () => {
  const socket = net.connect(server.address().port, '127.0.0.1');
  socket.on('connect', () => {
    log('connect (poll)');
    setImmediate(() => {
      log('immediate (check)');
      setImmediate(() => log('immediate from immediate (next check)'));
    });
    process.nextTick(() => log('tick after connect'));
    socket.destroy();
    log('destroy called');
  });
  socket.on('close', () => {
    log('close (closing)');
    process.nextTick(() => log('tick after close'));
    server.close();
  });
});
