// A NestJS service that logs the way Nest applications do: through Nest's
// Logger, routed by nest-winston to a winston logger whose transports
// include winston-sawmill. Plain JavaScript: the decorators are applied as
// functions (what TypeScript's decorator syntax compiles to).
import "reflect-metadata";
import { connect } from "node:net";
import { Controller, Get, HttpException, HttpStatus, Inject, Logger, Module, Param } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { WinstonModule } from "nest-winston";

/**
 * connectDb opens a TCP connection to the "database"; it rejects with the
 * real socket error (ECONNREFUSED when nothing listens there).
 * @param {number} port
 * @returns {Promise<void>}
 */
function connectDb(port) {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    sock.once("connect", () => {
      sock.destroy();
      resolve();
    });
    sock.once("error", reject);
  });
}

export class UsersController {
  /** @param {number} dbPort */
  constructor(dbPort) {
    this.dbPort = dbPort;
    this.logger = new Logger(UsersController.name);
  }

  /** @param {string} id */
  async find(id) {
    try {
      await connectDb(this.dbPort);
    } catch (e) {
      const err = /** @type {Error} */ (e);
      // The Nest idiom: message, then the stack as the "trace" argument.
      this.logger.error("db connect failed", err.stack);
      throw new HttpException("database unavailable", HttpStatus.SERVICE_UNAVAILABLE);
    }
    return { id };
  }
}

export class CrashController {
  crash() {
    // Not an HttpException: Nest's ExceptionsHandler logs it and answers 500.
    throw new TypeError("user store corrupted");
  }
}

/**
 * @param {Function} cls
 * @param {string} method
 * @param {MethodDecorator} decorator
 */
function onMethod(cls, method, decorator) {
  const d = Object.getOwnPropertyDescriptor(cls.prototype, method);
  if (d === undefined) throw new Error(`no method ${method}`);
  decorator(cls.prototype, method, d);
}

Inject("DB_PORT")(UsersController, undefined, 0);
Controller("users")(UsersController);
onMethod(UsersController, "find", Get(":id"));
Param("id")(UsersController.prototype, "find", 0);
Controller()(CrashController);
onMethod(CrashController, "crash", Get("crash"));

/**
 * createApp builds the Nest application (not listening yet) with Nest's
 * logging routed through nest-winston to the given winston logger.
 * @param {import("winston").Logger} winstonLogger
 * @param {{ dbPort: number }} opts
 */
export async function createApp(winstonLogger, opts) {
  class AppModule {}
  Module({
    controllers: [UsersController, CrashController],
    providers: [{ provide: "DB_PORT", useValue: opts.dbPort }],
  })(AppModule);
  return NestFactory.create(AppModule, { logger: WinstonModule.createLogger({ instance: winstonLogger }), abortOnError: false });
}
