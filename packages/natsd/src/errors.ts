import type { NatsdFailure } from "./types.js";

/** Environment or setup failures: callers cannot recover from them in-process, so they are thrown. */
export class NatsdError extends Error {
  readonly code: NatsdFailure["code"];
  readonly failure: NatsdFailure;

  constructor(failure: NatsdFailure, options?: ErrorOptions) {
    super(failure.message, options);
    this.name = "NatsdError";
    this.code = failure.code;
    this.failure = failure;
  }
}

export class NatsServerNotFound extends NatsdError {
  constructor(message: string) {
    super({ code: "not_found", message });
    this.name = "NatsServerNotFound";
  }
}

export const isNatsdError = (e: unknown): e is NatsdError => e instanceof NatsdError;
