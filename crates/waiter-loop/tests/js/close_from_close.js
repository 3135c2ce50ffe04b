// A handle closed from a close callback is closed in the close phase of the
// next tick, after that tick's immediates: libuv takes the whole list of
// closing handles before running it. Two TCP clients stand in for handles;
// once both are connected (poll phase), the first is destroyed, and its
// 'close' listener destroys the second.
'use strict';
const net = require('net');
const { sinkServer } = require('./common');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));

const server = sinkServer();
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const sockets = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
  let connected = 0;
  for (const socket of sockets) {
    socket.on('connect', () => {
      connected += 1;
      if (connected < 2) return;
      log('both connected (poll)');
      setImmediate(() => log('immediate (check)'));
      sockets[0].destroy();
    });
  }
  sockets[0].on('close', () => {
    log('first close (closing)');
    setImmediate(() => log('immediate from close (next check)'));
    process.nextTick(() => log('tick from close'));
    sockets[1].destroy();
    log('second destroy called');
  });
  sockets[1].on('close', () => {
    log('second close (next closing)');
    server.close();
  });
});
