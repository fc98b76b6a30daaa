import { createHmac } from "node:crypto";

const TOKEN_CHARS = 22; // 22 base64url chars carry 132 bits, comfortably over the 128 we want

const TAG_STRING = 0x73; // 's'
const TAG_NUMBER = 0x6e; // 'n'

/**
 * Each part is written as tag ‖ u32 length ‖ UTF-8 bytes, so ("ab","c") and ("a","bc"), or
 * 1 and "1", can never encode to the same input and therefore never share a token.
 */
const encodeParts = (parts: ReadonlyArray<string | number>): Buffer => {
  const chunks: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(parts.length);
  chunks.push(count);
  for (const part of parts) {
    let tag: number;
    let text: string;
    if (typeof part === "string") {
      tag = TAG_STRING;
      text = part;
    } else if (typeof part === "number" && Number.isFinite(part)) {
      tag = TAG_NUMBER;
      text = String(part);
    } else {
      throw new TypeError("opaqueToken: parts must be strings or finite numbers");
    }
    const body = Buffer.from(text, "utf8");
    const head = Buffer.alloc(5);
    head.writeUInt8(tag, 0);
    head.writeUInt32BE(body.length, 1);
    chunks.push(head, body);
  }
  return Buffer.concat(chunks);
};

/**
 * Keyed so that someone who can read subjects or KV keys (an operator, a tap on the hub)
 * cannot confirm a guessed user id by hashing it themselves.
 */
export const opaqueToken = (secret: Uint8Array | string, ...parts: ReadonlyArray<string | number>): string => {
  if (secret.length === 0) throw new TypeError("opaqueToken: empty secret");
  return createHmac("sha256", secret).update(encodeParts(parts)).digest("base64url").slice(0, TOKEN_CHARS);
};
