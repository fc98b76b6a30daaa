import type { WireError, WireErrorCode } from "./types.js";

const CODES: ReadonlySet<string> = new Set(["too_large", "too_deep", "malformed", "invalid", "unsupported_version"]);

export const wireError = (code: WireErrorCode, message: string, path?: string): WireError =>
  path === undefined || path === "" ? { _tag: "WireError", code, message } : { _tag: "WireError", code, message, path };

export const isWireError = (u: unknown): u is WireError =>
  typeof u === "object" &&
  u !== null &&
  (u as { _tag?: unknown })._tag === "WireError" &&
  CODES.has((u as { code?: unknown }).code as string) &&
  typeof (u as { message?: unknown }).message === "string";
