// The payments HTTP API: POST /payments captures an order's amount (or
// declines it), GET /payments/:id reads a payment, GET /healthz answers ok.
import { fromHeaders } from "./trace.js";

/** Amounts above this many cents are declined (a card limit). */
export const LIMIT_CENTS = 50_000;

/** The simulated outage behind "X-Fault: db". */
export class LedgerUnavailableError extends Error {
  /** @param {string} message @param {{ cause?: unknown }} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = "LedgerUnavailableError";
  }
}

/**
 * @typedef {{ id: string, order_id: string, amount_cents: number, currency: string, status: string, reason?: string }} Payment
 * @typedef {import("winston").Logger} Logger
 * @typedef {import("node:http").IncomingMessage} Request
 * @typedef {import("node:http").ServerResponse} Response
 */

/**
 * @param {Response} res
 * @param {number} status
 * @param {unknown} body
 * @returns {number}
 */
function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body) + "\n");
  return status;
}

/**
 * readJson reads a request body of at most 1 MiB as JSON.
 * @param {Request} req
 * @returns {Promise<unknown>}
 */
async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += /** @type {Buffer} */ (chunk).length;
    if (size > 1 << 20) throw new Error("request body over 1 MiB");
    chunks.push(/** @type {Buffer} */ (chunk));
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/**
 * createApp returns the request handler. Every log of a request goes
 * through a child logger carrying its request id, trace id and span id
 * (winston-sawmill stores the last two as the record's trace context).
 * @param {Logger} logger
 * @returns {(req: Request, res: Response) => void}
 */
export function createApp(logger) {
  /** @type {Map<string, Payment>} */
  const payments = new Map();
  let next = 0;

  /**
   * @param {Request} req
   * @param {Response} res
   * @param {Logger} log
   * @returns {Promise<number>}
   */
  async function createPayment(req, res, log) {
    /** @type {unknown} */
    let body;
    try {
      body = await readJson(req);
    } catch (err) {
      log.warn("invalid payment request", { error: err });
      return send(res, 400, { error: "body must be JSON" });
    }
    const b = /** @type {Record<string, unknown>} */ (typeof body === "object" && body !== null ? body : {});
    const orderId = b.order_id;
    const amount = b.amount_cents;
    const currency = typeof b.currency === "string" ? b.currency : "EUR";
    if (typeof orderId !== "string" || orderId === "" || typeof amount !== "number" || !Number.isInteger(amount) || amount <= 0) {
      log.warn("invalid payment request", { body: b });
      return send(res, 400, { error: "order_id and a positive integer amount_cents are required" });
    }
    const plog = log.child({ order_id: orderId, amount_cents: amount, currency });
    if (req.headers["x-fault"] === "db") {
      const err = new LedgerUnavailableError(`insert payment for order ${orderId}: ledger unavailable`, {
        cause: new Error("connect ECONNREFUSED ledger-db:5432"),
      });
      plog.error("capture payment", { error: err });
      return send(res, 500, { error: "could not record the payment" });
    }
    next += 1;
    const id = `pay_${String(next).padStart(6, "0")}`;
    if (amount > LIMIT_CENTS) {
      const p = { id, order_id: orderId, amount_cents: amount, currency, status: "declined", reason: "amount over the card limit" };
      payments.set(id, p);
      plog.warn("payment declined", { payment_id: id, reason: p.reason, limit_cents: LIMIT_CENTS });
      return send(res, 402, p);
    }
    const p = { id, order_id: orderId, amount_cents: amount, currency, status: "captured" };
    payments.set(id, p);
    plog.info("payment captured", { payment_id: id });
    return send(res, 201, p);
  }

  /**
   * @param {string} id
   * @param {Response} res
   * @param {Logger} log
   * @returns {number}
   */
  function getPayment(id, res, log) {
    const p = payments.get(id);
    if (p === undefined) {
      log.warn("payment not found", { payment_id: id });
      return send(res, 404, { error: `no payment ${JSON.stringify(id)}` });
    }
    return send(res, 200, p);
  }

  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method === "GET" && url.pathname === "/healthz") {
      send(res, 200, { status: "ok" });
      return;
    }
    const info = fromHeaders(req.headers);
    res.setHeader("x-request-id", info.requestId);
    res.setHeader("x-trace-id", info.traceId);
    const log = logger.child({ request_id: info.requestId, trace_id: info.traceId, span_id: info.spanId });
    const start = process.hrtime.bigint();

    /** @returns {Promise<number>} */
    const route = async () => {
      if (req.method === "POST" && url.pathname === "/payments") return createPayment(req, res, log);
      const m = /^\/payments\/([^/]+)$/.exec(url.pathname);
      if (req.method === "GET" && m !== null) return getPayment(decodeURIComponent(m[1] ?? ""), res, log);
      return send(res, 404, { error: "not found" });
    };
    route().then(
      (status) => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        log.info("request served", { method: req.method, path: url.pathname, status, duration_ms: ms });
      },
      (err) => {
        log.error("request failed", { error: err, method: req.method, path: url.pathname });
        if (!res.headersSent) send(res, 500, { error: "internal error" });
        else res.destroy();
      },
    );
  };
}
