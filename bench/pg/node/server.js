// The API server of examples/api_server.rs in Node.js: http + pg.Pool, one process.
//   npm install --prefix bench/pg/node && WAITER_PG_URL=... node bench/pg/node/server.js PORT POOL
'use strict';
const http = require('http');
const { Pool, types } = require('pg');

// int8 ids as numbers, as api_server.rs renders them (node-pg's default is a string).
types.setTypeParser(20, (v) => parseInt(v, 10));

const port = Number(process.argv[2] || 8081);
const pool = new Pool({
  connectionString: process.env.WAITER_PG_URL || 'postgres://waiter@127.0.0.1:15432/waiter',
  max: Number(process.argv[3] || 50),
});

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/slow') {
      await pool.query('SELECT pg_sleep(0.02)');
      return send(res, 200, '{"slept_ms":20}');
    }
    const m = req.method === 'GET' && /^\/users\/(\d+)$/.exec(req.url);
    if (m) {
      // The same query as api_server.rs; the row rendered as JSON here, as there.
      const r = await pool.query({ name: 'user', text: 'SELECT id, name, email, created_at FROM users WHERE id = $1', values: [m[1]] });
      return r.rows.length ? send(res, 200, JSON.stringify(r.rows[0])) : send(res, 404, '{"error":"no such user"}');
    }
    send(res, 404, '{"error":"no such route"}');
  } catch (e) {
    send(res, 500, JSON.stringify({ error: String(e) }));
  }
});
server.keepAliveTimeout = 75000;
server.listen(port, '127.0.0.1', 16384, () => console.error(`node api server on ${port}`));
