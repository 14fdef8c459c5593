// Runs the example: LOG_ENDPOINT (sawmill's gRPC address), PORT, DB_PORT.
import winston from "winston";
import { SawmillTransport } from "winston-sawmill";
import { createApp } from "./app.js";

const sawmill = new SawmillTransport({ endpoint: process.env.LOG_ENDPOINT ?? "127.0.0.1:7070", service: "nest-users" });
const logger = winston.createLogger({
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Console(), sawmill],
});
const app = await createApp(logger, { dbPort: Number(process.env.DB_PORT ?? 5433) });
await app.listen(Number(process.env.PORT ?? 3000));

process.once("SIGTERM", async () => {
  await app.close(); // stops taking requests and waits for the ones in flight
  const delivered = await sawmill.close(5000);
  process.exit(delivered ? 0 : 1);
});
