// buffer_service.js -- a Node HTTP service that keeps (or not) a buffer per
// request, for the leak check's examples:
//
//   node loadtest/examples/buffer_service.js --keep BYTES [--port P]
//
// Every request is answered {"kept": n} after its body is read; with
// --keep BYTES > 0 a Buffer of BYTES bytes is allocated and pushed onto a
// module-level array that is never emptied (grows); with --keep 0 nothing
// outlives the request (flat, once V8's heap and JIT have warmed up).
// The chosen port is printed on standard output as "PORT n".
"use strict";
const http = require("http");

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) {
    console.error(`buffer_service.js: ${name} wants a whole number >= 0`);
    process.exit(2);
  }
  return v;
}

const keepBytes = arg("--keep", 1024);
const kept = [];

const server = http.createServer((req, res) => {
  req.on("data", () => {});
  req.on("end", () => {
    if (keepBytes > 0) kept.push(Buffer.alloc(keepBytes));
    const body = JSON.stringify({ kept: kept.length });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 30000;
server.listen(arg("--port", 0), "127.0.0.1", () => {
  console.log(`PORT ${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
