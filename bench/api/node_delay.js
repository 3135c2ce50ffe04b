// The Node.js twin of the API benchmark: every request is answered after 20 ms.
//
// Run: node bench/api/node_delay.js [PORT] [DELAY_MS]   (defaults 17082, 20), then
// curl -v http://127.0.0.1:17082/
//
// One process, the `http` module, setTimeout(DELAY_MS) per request: the first seed's
// API server with a timer for the database. The headers are set explicitly so the bytes
// are those of its twins (crates/waiter-http/examples/delay_server.rs and
// bench/baselines, thread per connection), apart from the date; Node's own default
// headers add `Keep-Alive: timeout=5`, which would make its responses longer.
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 17082);
const delay = Number(process.argv[3] || 20);
const body = Buffer.from('ok\n');

// The date is formatted at most once a second, as Node's own Date header is.
let dateSecond = -1;
let dateText = '';
function date() {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

const server = http.createServer((req, res) => {
  res.sendDate = false;
  setTimeout(() => {
    res.writeHead(200, [
      'Server', 'waiter',
      'Date', date(),
      'Content-Type', 'text/plain; charset=utf-8',
      'Content-Length', String(body.length),
      'Connection', req.headers.connection === 'close' ? 'close' : 'keep-alive',
      'X-Content-Type-Options', 'nosniff',
    ]);
    res.end(body);
  }, delay);
});
// Connections stay open as long as the client keeps them (wrk does), as in the Rust twins.
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.maxHeadersCount = 100;
server.listen(port, '127.0.0.1', 4096, () => {
  console.error(`node_delay: listening on 127.0.0.1:${port}, answering after ${delay} ms`);
});
