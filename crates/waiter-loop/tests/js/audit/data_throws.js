// A socket whose 'data' listener throws still delivers the next chunk: the
// handle keeps its callback. (The twin watches one end of a socket pair.)
'use strict';
const net = require('net');
const log = (line) => console.log(line);
process.on('exit', () => log('exit'));
process.on('uncaughtException', (e) => log('uncaught: ' + e.message));

let chunks = 0;
const server = net.createServer((conn) => {
  conn.on('data', (data) => {
    chunks++;
    log('data ' + data.toString());
    if (chunks === 1) throw new Error('boom');
    conn.destroy();
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1', () => {
    client.write('a');
    setTimeout(() => client.end('b'), 30);
  });
  client.on('error', () => {});
});
