import { wireError } from "./errors.js";
import { WireErrorCode } from "./types.js";
import type { CodecLimits, WireError } from "./types.js";

/**
 * Keys that let a later deep-merge or `Object.assign` reach a prototype. The msgpack library
 * already refuses `__proto__` (it would set the prototype of the decoded object), but
 * `constructor`/`prototype` pass, and `{constructor:{prototype:{…}}}` is the classic gadget
 * for merge helpers; our records never use these names, so they are refused up front.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
const FORBIDDEN_KEY_LIST: readonly string[] = [...FORBIDDEN_KEYS];

const isForbiddenKeyAt = (bytes: Uint8Array, start: number, len: number): string | undefined => {
  for (let k = 0; k < FORBIDDEN_KEY_LIST.length; k++) {
    const key = FORBIDDEN_KEY_LIST[k]!;
    if (key.length !== len) continue;
    let i = 0;
    while (i < len && bytes[start + i] === key.charCodeAt(i)) i++;
    if (i === len) return key;
  }
  return undefined;
};

export type Scanner = (bytes: Uint8Array) => WireError | undefined;

const KIND_ARRAY = 0;
/** A map waiting for its next key. */
const KIND_MAP_KEY = 1;
/** A map waiting for the value of the key just read. */
const KIND_MAP_VALUE = 2;

const truncated = (): WireError => wireError(WireErrorCode.Malformed, "msgpack: truncated input");

/**
 * Walks the msgpack structure once, reading only headers, before the library decodes
 * anything. The library has no depth limit and allocates `new Array(n)` from a claimed
 * length, so this is where hostile input is stopped: too deep, lengths over the limits,
 * lengths that claim more bytes than remain, reserved bytes, ext types, non-string/int map
 * keys, prototype-reaching keys and trailing bytes. Cost is one pass over headers with a
 * stack preallocated per codec, so nothing is allocated on the success path.
 */
export const createScanner = (limits: CodecLimits): Scanner => {
  const { maxDepth, maxStrLength, maxBinLength, maxArrayLength, maxMapLength, maxExtLength } = limits;
  // Elements (arrays) or entries (maps) still to read in each open container.
  const remaining = new Uint32Array(maxDepth);
  const kind = new Uint8Array(maxDepth);

  return (bytes) => {
    const n = bytes.length;
    let pos = 0;
    let top = -1;

    for (;;) {
      if (pos >= n) return truncated();
      const b = bytes[pos]!;
      const atKey = top >= 0 && kind[top] === KIND_MAP_KEY;

      let size = 0; // length of a str/bin/ext payload, or element count of a container
      let head = 1; // header bytes, including the type byte
      let container = -1; // KIND_ARRAY / KIND_MAP_KEY when the item opens one
      let payload = 0; // 1 = str, 2 = bin, 3 = ext

      if (b <= 0x7f || b >= 0xe0) {
        // fixint
      } else if (b <= 0x8f) {
        container = KIND_MAP_KEY;
        size = b & 0x0f;
      } else if (b <= 0x9f) {
        container = KIND_ARRAY;
        size = b & 0x0f;
      } else if (b <= 0xbf) {
        payload = 1;
        size = b & 0x1f;
      } else {
        switch (b) {
          case 0xc0:
          case 0xc2:
          case 0xc3:
            break;
          case 0xc1:
            return wireError(WireErrorCode.Malformed, "msgpack: reserved type byte");
          case 0xc4:
          case 0xc5:
          case 0xc6:
          case 0xc7:
          case 0xc8:
          case 0xc9:
          case 0xd9:
          case 0xda:
          case 0xdb:
          case 0xdc:
          case 0xdd:
          case 0xde:
          case 0xdf: {
            // Variable-length header: 1, 2 or 4 length bytes, big-endian.
            const lenBytes = b === 0xc4 || b === 0xc7 || b === 0xd9 ? 1 : b === 0xc5 || b === 0xc8 || b === 0xda || b === 0xdc || b === 0xde ? 2 : 4;
            if (pos + 1 + lenBytes > n) return truncated();
            size =
              lenBytes === 1
                ? bytes[pos + 1]!
                : lenBytes === 2
                  ? (bytes[pos + 1]! << 8) | bytes[pos + 2]!
                  : bytes[pos + 1]! * 0x1000000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!);
            head = 1 + lenBytes;
            if (b <= 0xc6) payload = 2;
            else if (b <= 0xc9) {
              payload = 3;
              head += 1; // ext type byte
            } else if (b <= 0xdb) payload = 1;
            else container = b <= 0xdd ? KIND_ARRAY : KIND_MAP_KEY;
            break;
          }
          case 0xca:
            head = 5;
            break;
          case 0xcb:
            head = 9;
            break;
          case 0xcc:
          case 0xd0:
            head = 2;
            break;
          case 0xcd:
          case 0xd1:
            head = 3;
            break;
          case 0xce:
          case 0xd2:
            head = 5;
            break;
          case 0xcf:
          case 0xd3:
            head = 9;
            break;
          default:
            // 0xd4..0xd8: fixext 1/2/4/8/16, type byte then payload
            payload = 3;
            size = 1 << (b - 0xd4);
            head = 2;
        }
      }

      if (atKey && !(payload === 1 || b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))) {
        return wireError(WireErrorCode.Malformed, "msgpack: map key must be a string or an integer");
      }
      if (pos + head > n) return truncated();
      pos += head;

      if (payload !== 0) {
        if (payload === 1) {
          if (size > maxStrLength) return wireError(WireErrorCode.TooLarge, `msgpack: string longer than ${maxStrLength} bytes`);
        } else if (payload === 2) {
          if (size > maxBinLength) return wireError(WireErrorCode.TooLarge, `msgpack: binary longer than ${maxBinLength} bytes`);
        } else if (maxExtLength === 0) {
          return wireError(WireErrorCode.Invalid, "msgpack: extension types are not accepted");
        } else if (size > maxExtLength) {
          return wireError(WireErrorCode.TooLarge, `msgpack: extension longer than ${maxExtLength} bytes`);
        }
        if (size > n - pos) return truncated();
        if (atKey && (size === 9 || size === 11)) {
          const forbidden = isForbiddenKeyAt(bytes, pos, size);
          if (forbidden !== undefined) return wireError(WireErrorCode.Invalid, `map key '${forbidden}' is not allowed`);
        }
        pos += size;
      } else if (container >= 0) {
        if (top + 2 > maxDepth) return wireError(WireErrorCode.TooDeep, `msgpack: nested deeper than ${maxDepth}`);
        // A map entry is at least two bytes (key and value), an array element at least one.
        const minBytes = container === KIND_MAP_KEY ? size * 2 : size;
        if (container === KIND_MAP_KEY) {
          if (size > maxMapLength) return wireError(WireErrorCode.TooLarge, `msgpack: map with more than ${maxMapLength} entries`);
        } else if (size > maxArrayLength) {
          return wireError(WireErrorCode.TooLarge, `msgpack: array with more than ${maxArrayLength} elements`);
        }
        // A count that cannot fit in the bytes left is a lie; refuse it before anyone allocates for it.
        if (minBytes > n - pos) return truncated();
        if (size > 0) {
          top++;
          remaining[top] = size;
          kind[top] = container;
          continue;
        }
      }

      // One item finished; close every container it completes.
      while (top >= 0) {
        const k = kind[top];
        if (k === KIND_MAP_KEY) {
          kind[top] = KIND_MAP_VALUE;
          break;
        }
        if (k === KIND_MAP_VALUE) kind[top] = KIND_MAP_KEY;
        const left = remaining[top]! - 1;
        remaining[top] = left;
        if (left > 0) break;
        top--;
      }
      if (top < 0) {
        return pos === n ? undefined : wireError(WireErrorCode.Malformed, "msgpack: trailing bytes after the value");
      }
    }
  };
};
