import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { nuid } from "@nats-io/transport-node";
import { serveMicroDiscovery } from "./micro.js";
import type { Codec, Schema } from "@interlink/wire";
import { createCodec, errReply, okReply } from "@interlink/wire";
import type { ProviderId, Service } from "@interlink/subjects";
import { providerOfSubject, requestWildcard } from "@interlink/subjects";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { TaskEither } from "fp-ts/lib/TaskEither.js";
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { ServiceError } from "./errors.js";
import { ErrorCode, fromWireError, internal, overloaded, serviceError, toRecord } from "./errors.js";
import type { Logger } from "./logger.js";
import { silentLogger } from "./logger.js";
import type { ActorCell, MailboxOptions } from "./mailbox.js";
import { ActorSystem } from "./mailbox.js";

/** What a handler learns about a request besides its body. */
export interface RequestContext {
  /** The calling provider, taken from the subject (never from the payload). */
  readonly provider: ProviderId;
  readonly subject: string;
  readonly op: string;
  readonly msg: Msg;
  readonly log: Logger;
  readonly clock: Clock;
}

export interface Endpoint<Req, Res, S = unknown> {
  readonly op: string;
  readonly schema: Schema<Req>;
  /**
   * When given, requests with the same key are handled one at a time by one actor, in order.
   * Return null to run without an actor.
   */
  readonly key?: (req: Req, ctx: RequestContext) => string | null;
  /**
   * Runs before the request is decoded, with the calling provider (from the subject) and the
   * request's size: a cheap place for quotas. An error refuses the request without decoding it.
   */
  readonly admit?: (provider: ProviderId, bytes: number) => ServiceError | undefined;
  readonly handle: (req: Req, ctx: RequestContext, cell: ActorCell<S> | undefined) => TaskEither<ServiceError, Res>;
}

/** Erases the type parameters so endpoints of different shapes fit in one list. */
export type AnyEndpoint = Endpoint<any, any, any>;

export const endpoint = <Req, Res, S = unknown>(e: Endpoint<Req, Res, S>): AnyEndpoint => e;

export interface ServiceHostOptions {
  readonly service: Service;
  readonly nc: NatsConnection;
  /** Queue group shared by every instance of the service. */
  readonly queue?: string;
  readonly codec?: Codec;
  readonly log?: Logger;
  readonly clock?: Clock;
  /** Requests being handled at once by this instance before `overloaded`. */
  readonly maxInFlight?: number;
  readonly mailbox?: MailboxOptions<any>;
  /** Restrict the subscription to one provider (a provider's own edge service); default all. */
  readonly provider?: ProviderId;
}

export interface EndpointCounters {
  readonly name: string;
  readonly subject: string;
  readonly queue: string;
  requests: number;
  errors: number;
  /** The code of the last error answered (codes carry no user data). */
  lastError: string;
  processingNs: bigint;
}

export interface HostStats {
  readonly received: number;
  readonly ok: number;
  readonly failed: number;
  readonly rejected: number;
  readonly overloaded: number;
  readonly inFlight: number;
}

/**
 * Serves a service's endpoints on `ilk.<service>.v1.<op>.<provider>` in a queue group. Every
 * request is decoded with limits, validated, and answered with a Reply record; bad input is
 * answered with a typed error and counted, and never reaches the handler.
 */
export class ServiceHost {
  readonly #o: ServiceHostOptions;
  readonly #codec: Codec;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #actors: ActorSystem<any>;
  readonly #subs: Subscription[] = [];
  readonly #maxInFlight: number;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #stats = { received: 0, ok: 0, failed: 0, rejected: 0, overloaded: 0 };
  readonly #endpoints: EndpointCounters[] = [];

  constructor(opts: ServiceHostOptions) {
    this.#o = opts;
    this.#codec = opts.codec ?? createCodec();
    this.#log = opts.log ?? silentLogger;
    this.#clock = opts.clock ?? systemClock;
    this.#actors = new ActorSystem(opts.mailbox);
    this.#maxInFlight = opts.maxInFlight ?? 2_048;
  }

  get actors(): ActorSystem<any> {
    return this.#actors;
  }

  /** Subscribes every endpoint plus a `ping` that answers with the service name. */
  serve(endpoints: readonly AnyEndpoint[]): this {
    const all: AnyEndpoint[] = [...endpoints, pingEndpoint(this.#o.service)];
    const queue = this.#o.queue ?? `ilk.${this.#o.service}`;
    for (const ep of all) {
      const subject = this.#o.provider === undefined
        ? requestWildcard(this.#o.service, ep.op)
        : requestWildcard(this.#o.service, ep.op).replace(/\*$/, this.#o.provider);
      const counters: EndpointCounters = { name: ep.op, subject, queue, requests: 0, errors: 0, lastError: "", processingNs: 0n };
      this.#endpoints.push(counters);
      const sub = this.#o.nc.subscribe(subject, {
        queue,
        callback: (_err, msg) => void this.#dispatch(ep, msg, counters),
      });
      this.#subs.push(sub);
    }
    const name = `interlink-${this.#o.service}`;
    this.#subs.push(
      ...serveMicroDiscovery(
        this.#o.nc,
        {
          name,
          id: nuid.next(),
          version: "0.1.0",
          description: `Interlink ${this.#o.service} service`,
          metadata: this.#o.provider === undefined ? {} : { provider: this.#o.provider },
          started: new Date(this.#clock.now()),
        },
        () => this.endpointStats(),
      ),
    );
    return this;
  }

  stats(): HostStats {
    return { ...this.#stats, inFlight: this.#inFlight };
  }

  /** Per endpoint: requests, errors, last error code, time spent (for NATS micro STATS and metrics). */
  endpointStats(): readonly Readonly<EndpointCounters>[] {
    return this.#endpoints.map((e) => ({ ...e }));
  }

  get service(): Service {
    return this.#o.service;
  }

  async #dispatch(ep: AnyEndpoint, msg: Msg, counters: EndpointCounters): Promise<void> {
    this.#stats.received++;
    counters.requests++;
    if (this.#inFlight >= this.#maxInFlight) {
      this.#stats.overloaded++;
      counters.errors++;
      counters.lastError = ErrorCode.Overloaded;
      this.#respond(msg, E.left(overloaded(this.#o.service)));
      return;
    }
    this.#inFlight++;
    const t0 = process.hrtime.bigint();
    try {
      const r = await this.#handle(ep, msg);
      if (E.isLeft(r)) {
        counters.errors++;
        counters.lastError = r.left.code;
      }
      this.#respond(msg, r);
    } finally {
      counters.processingNs += process.hrtime.bigint() - t0;
      this.#inFlight--;
      if (this.#inFlight === 0) this.#idle?.();
    }
  }

  async #handle(ep: AnyEndpoint, msg: Msg): Promise<Either<ServiceError, unknown>> {
    const provider = providerOfSubject(msg.subject);
    if (E.isLeft(provider)) {
      this.#stats.rejected++;
      return E.left(serviceError(ErrorCode.BadRequest, "invalid subject"));
    }
    const refused = ep.admit?.(provider.right, msg.data.length);
    if (refused !== undefined) return E.left(refused);
    const decoded = this.#codec.decode(msg.data);
    const req = E.isLeft(decoded) ? decoded : ep.schema.decode(decoded.right, "request");
    if (E.isLeft(req)) {
      this.#stats.rejected++;
      this.#log.debug("request rejected", { op: ep.op, code: req.left.code, path: req.left.path });
      return E.left(fromWireError(req.left));
    }
    const ctx: RequestContext = {
      provider: provider.right,
      subject: msg.subject,
      op: ep.op,
      msg,
      log: this.#log,
      clock: this.#clock,
    };
    const key = ep.key?.(req.right, ctx) ?? null;
    const run = async (cell: ActorCell<unknown> | undefined): Promise<Either<ServiceError, unknown>> => {
      try {
        return await ep.handle(req.right, ctx, cell)();
      } catch (err) {
        // A throw is a bug; log the kind only (messages from libraries may echo input).
        this.#log.error("handler threw", { op: ep.op, error: err instanceof Error ? err.name : typeof err });
        return E.left(internal());
      }
    };
    const r = key === null ? await run(undefined) : await this.#actors.ask(`${ep.op}:${key}`, run);
    if (E.isLeft(r) && r.left.code === ErrorCode.Overloaded) this.#stats.overloaded++;
    return r;
  }

  #respond(msg: Msg, r: Either<ServiceError, unknown>): void {
    if (E.isRight(r)) this.#stats.ok++;
    else this.#stats.failed++;
    if (!msg.reply) return;
    try {
      msg.respond(this.#codec.encode(E.isRight(r) ? okReply(r.right) : errReply(toRecord(r.left))));
    } catch (err) {
      // An unencodable reply body is a bug in the handler: answer with a typed error instead.
      this.#log.error("reply could not be encoded", { error: err instanceof Error ? err.name : typeof err });
      msg.respond(this.#codec.encode(errReply(toRecord(internal()))));
    }
  }

  /** Stops taking requests, lets those in flight finish, then lets the actors drain. */
  async drain(): Promise<void> {
    await Promise.all(this.#subs.map((s) => s.drain().catch(() => undefined)));
    if (this.#inFlight > 0) await new Promise<void>((r) => (this.#idle = r));
    await this.#actors.close();
  }
}

const pingEndpoint = (service: Service): AnyEndpoint =>
  endpoint<unknown, { service: string }>({
    op: "ping",
    schema: { name: "any", decode: (u) => E.right(u) },
    handle: () => () => Promise.resolve(E.right({ service })),
  });
