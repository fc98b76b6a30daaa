import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { nkeyAuthenticator, nkeys } from "@nats-io/transport-node";
import type { Authenticator } from "@nats-io/transport-node";
import type { ProviderId } from "@interlink/subjects";
import { EDGE_WILDCARD } from "@interlink/subjects";
import { quote } from "@interlink/natsd";

/**
 * Secrets live in files with mode 0600 under the hub's data dir and are passed around as
 * paths; nothing here logs or prints a secret.
 */
export const writeSecret = (path: string, text: string): void => {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
};

export interface UserKey {
  /** Public nkey (`U…`), safe to store and show. */
  readonly publicKey: string;
  /** Path of the seed file (`nats --nkey FILE`, `INTERLINK_NATS_NKEY`). */
  readonly seedFile: string;
}

/** Creates a user nkey and writes its seed to `seedFile` (0600). */
export const createUserKey = (seedFile: string): UserKey => {
  const kp = nkeys.createUser();
  writeSecret(seedFile, new TextDecoder().decode(kp.getSeed()) + "\n");
  const publicKey = kp.getPublicKey();
  kp.clear();
  return { publicKey, seedFile };
};

/** The public key of a seed file, or undefined when the file does not hold a user seed. */
export const publicKeyOf = (seedFile: string): string | undefined => {
  try {
    const kp = nkeys.fromSeed(new TextEncoder().encode(readFileSync(seedFile, "utf8").trim()));
    const pub = kp.getPublicKey();
    kp.clear();
    return pub.startsWith("U") ? pub : undefined;
  } catch {
    return undefined;
  }
};

/** Reads the user seed in `seedFile`, creating it first if missing. */
export const ensureUserKey = (seedFile: string): UserKey => {
  if (existsSync(seedFile)) {
    const publicKey = publicKeyOf(seedFile);
    if (publicKey === undefined) throw new Error(`${seedFile} does not hold a NATS user nkey seed`);
    return { publicKey, seedFile };
  }
  return createUserKey(seedFile);
};

/** An nkey authenticator that reads the seed file when connecting (and reconnecting). */
export const nkeyFileAuthenticator = (seedFile: string): Authenticator =>
  nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(seedFile, "utf8").trim()));

/** Files of one provider's credentials under the hub's data dir. */
export interface ProviderFiles {
  readonly dir: string;
  /** Seed of the provider's client user (nkey). */
  readonly userSeed: string;
  /** Password of the provider's leafnode link; read by the hub when it renders accounts. */
  readonly leafPassword: string;
  /** A `leafnodes { remotes: [...] }` block for the provider's own nats-server (`include` it). */
  readonly leafRemote: string;
}

export const providerFiles = (dataDir: string, provider: ProviderId): ProviderFiles => {
  const dir = join(dataDir, "providers", provider);
  return { dir, userSeed: join(dir, "user.nk"), leafPassword: join(dir, "leaf.password"), leafRemote: join(dir, "leaf-remote.conf") };
};

/** 128 bits, hex: safe inside a URL's user-info and a config string. */
export const newLeafPassword = (): string => randomBytes(16).toString("hex");

export const readLeafPassword = (files: ProviderFiles): string | undefined => {
  try {
    const pw = readFileSync(files.leafPassword, "utf8").trim();
    return /^[0-9a-f]{32,}$/.test(pw) ? pw : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The leafnode block a provider puts in its own nats-server config (by `include`): one remote to
 * the hub's leafnode port, bound to the provider's account there by the user and password, and
 * denying the edge subjects both ways so plaintext between its app and its ratchet never crosses.
 */
export const renderLeafRemote = (hubLeafUrl: string, user: string, password: string): string => {
  const u = new URL(hubLeafUrl);
  if (u.protocol !== "nats-leaf:" && u.protocol !== "nats:" && u.protocol !== "tls:") throw new RangeError("hub leaf url must be nats-leaf://host:port");
  u.username = user;
  u.password = password;
  return [
    "# Leafnode link of a provider's own nats-server to the Interlink hub. Contains the link's",
    "# password: keep this file private (mode 0600). Include it at the top level of the server's config.",
    "leafnodes {",
    "  remotes: [",
    `    { url: ${quote(u.toString())}, deny_exports: [${quote(EDGE_WILDCARD)}], deny_imports: [${quote(EDGE_WILDCARD)}] }`,
    "  ]",
    "}",
    "",
  ].join("\n");
};

export const removeProviderFiles = (files: ProviderFiles): void => rmSync(files.dir, { recursive: true, force: true });
