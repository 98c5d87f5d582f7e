#!/usr/bin/env node
// The Cosmos DB stand-in (@vercel/cosmosdb-server) with HTTP keep-alive on, as a Cosmos DB account answers:
// its own CLI always answers `Connection: close`, so each request of a client opened a new TLS connection
// (a new SSL context and handshake each: ~45 upserts/s from Python instead of hundreds).
//   node standins/cosmos/server.js --port 8081 [--host 127.0.0.1]
"use strict";
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = parseInt(option("--port", "8081"), 10);
const host = option("--host", "127.0.0.1");
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`--port must be a TCP port, got ${option("--port", "")}`);
  process.exit(2);
}
const server = createHttpsServer({ keepAlive: true });
server.keepAliveTimeout = 60000; // a client's pooled connection outlives a pause between operations
server.listen(port, host, () => console.log(`Cosmos stand-in (keep-alive) on https://${host}:${port}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
