import { Fingerprint, PublicKey } from "@signalapp/libsignal-client";
import { ab } from "./keys.js";

/** Signal's parameters for displayable safety numbers (version 2 uses service-id bytes). */
const ITERATIONS = 5200;
const VERSION = 2;

/**
 * The 60-digit safety number two users compare to verify each other's identity keys. Both sides
 * compute the same digits; names are the stable identifiers both sides agree on.
 */
export const safetyNumber = (localName: string, localKey: Uint8Array, remoteName: string, remoteKey: Uint8Array): string =>
  Fingerprint.new(
    ITERATIONS,
    VERSION,
    ab(new TextEncoder().encode(localName)),
    PublicKey.deserialize(ab(localKey)),
    ab(new TextEncoder().encode(remoteName)),
    PublicKey.deserialize(ab(remoteKey)),
  )
    .displayableFingerprint()
    .toString();
