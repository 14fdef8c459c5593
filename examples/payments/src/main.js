// payments: an example microservice in Node that logs with winston. Every
// log goes to the console and, through winston-sawmill, to Sawmill.
// Configuration comes only from the environment:
//
//   HTTP_ADDR        listen address                 (default 127.0.0.1:8083)
//   LOG_ENDPOINT     Sawmill gRPC address            (default 127.0.0.1:7070)
//   LOG_TOKEN        Sawmill bearer token            (default none)
//   SERVICE_ENV      deployment environment          (default dev)
//   SERVICE_VERSION  version reported to Sawmill     (default 0.1.0)
//   INSTANCE         instance name                   (default the host name)
import { createServer } from "node:http";
import { hostname } from "node:os";
import winston from "winston";
import { SawmillTransport } from "winston-sawmill";
import { createApp } from "./app.js";

const env = process.env;
const addr = env.HTTP_ADDR || "127.0.0.1:8083";
const sep = addr.lastIndexOf(":");
const host = addr.slice(0, sep) || "0.0.0.0";
const port = Number(addr.slice(sep + 1));
if (sep < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`payments: HTTP_ADDR ${JSON.stringify(addr)}: want host:port`);
  process.exit(1);
}
const endpoint = env.LOG_ENDPOINT || "127.0.0.1:7070";

const sawmill = new SawmillTransport({
  endpoint,
  service: "payments",
  instance: env.INSTANCE || hostname(),
  environment: env.SERVICE_ENV || "dev",
  version: env.SERVICE_VERSION || "0.1.0",
  token: env.LOG_TOKEN || undefined,
  // Problems of the log pipeline itself go to stderr, never back into the
  // logger (that could loop).
  onError: (err) => console.error(`payments: sawmill: ${err.message}`),
});

const logger = winston.createLogger({
  level: "info",
  format: winston.format.combine(winston.format.errors({ stack: true }), winston.format.timestamp()),
  transports: [new winston.transports.Console({ format: winston.format.json() }), sawmill],
});

const server = createServer(createApp(logger));
server.requestTimeout = 10_000;
server.headersTimeout = 5_000;

server.on("error", (err) => {
  console.error(`payments: listen on ${addr}: ${err.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  const a = server.address();
  logger.info("payments started", { addr: typeof a === "object" && a !== null ? `${a.address}:${a.port}` : addr, sawmill: endpoint });
});

let stopping = false;
/** @param {NodeJS.Signals} signal */
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  logger.info("payments stopping", { signal });
  await new Promise((resolve) => {
    server.close(() => resolve(undefined));
    server.closeIdleConnections();
  });
  logger.info("payments stopped");
  // close() resolves once Sawmill acknowledged every log (durable), or
  // with false after its timeout.
  const flushed = await sawmill.close(10_000);
  if (!flushed) console.error("payments: some logs were not acknowledged by sawmill before the deadline");
  process.exit(flushed ? 0 : 1);
}
process.on("SIGTERM", (s) => void stop(s));
process.on("SIGINT", (s) => void stop(s));
