import { readFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, nuid } from "@nats-io/transport-node";
import type { Logger } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import { Service, inboxPrefix, requestSubject } from "@interlink/subjects";
import type { ProviderFiles, ProviderRecord, ProviderRegistry, Quotas } from "@interlink/providers";
import {
  DEFAULT_PROTOCOL,
  createUserKey,
  leafUserName,
  newLeafPassword,
  nkeyFileAuthenticator,
  providerFiles,
  readLeafPassword,
  removeProviderFiles,
  renderAccounts,
  renderLeafRemote,
  writeSecret,
} from "@interlink/providers";
import * as E from "fp-ts/lib/Either.js";

/** How the accounts file reaches the server. */
export interface AccountsTarget {
  readonly accountsFile: string;
  /** Client URL of the hub, for the probe that proves a new account is wired. */
  readonly hubUrl: string;
  /** Where providers' servers connect as leafnodes (written into their credentials). */
  readonly leafUrl?: string;
  /** Makes the server re-read its config (SIGHUP); absent for a server we cannot signal. */
  readonly reload?: () => Promise<void>;
}

export class EnrollmentError extends Error {
  override readonly name = "EnrollmentError";
}

export interface EnrollOptions {
  readonly contact?: string;
  readonly protocols?: readonly string[];
  readonly quotas?: Quotas;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Enrollment of providers on a hub: the registry (KV, as the hub) is the record; the accounts
 * file is rendered from it plus the leafnode passwords kept in the hub's data dir, then the
 * server reloads it. Reloading keeps every connection up, so other providers are not disturbed.
 */
export class Enrollment {
  constructor(
    private readonly hub: NatsConnection,
    private readonly registry: ProviderRegistry,
    private readonly dataDir: string,
    private readonly hubNkey: string,
    private readonly target: AccountsTarget,
    private readonly log: Logger,
  ) {}

  files(id: ProviderId): ProviderFiles {
    return providerFiles(this.dataDir, id);
  }

  /** Renders the accounts file from the registry; true if it changed. */
  async render(): Promise<boolean> {
    const records = await this.registry.list();
    const text = renderAccounts({
      hubNkey: this.hubNkey,
      providers: records.map((record) => {
        const pw = record.status === "active" ? readLeafPassword(this.files(record.id)) : undefined;
        return pw === undefined ? { record } : { record, leafPassword: pw };
      }),
    });
    let before = "";
    try {
      before = readFileSync(this.target.accountsFile, "utf8");
    } catch {
      // first render
    }
    if (before === text) return false;
    writeSecret(this.target.accountsFile, text);
    return true;
  }

  /**
   * Writes the accounts file and has the server apply it. nats-server 2.9 wires the service
   * imports of an account added by a reload only on the next reload, so it reloads twice and
   * then proves the new account answers (`probe`), reloading again if it does not yet.
   */
  async apply(probe?: { id: ProviderId; seedFile: string }): Promise<"applied" | "unchanged" | "manual"> {
    const changed = await this.render();
    const reload = this.target.reload;
    if (reload === undefined) return "manual";
    if (!changed && probe === undefined) return "unchanged";
    await reload();
    await reload();
    if (probe === undefined) return "applied";
    for (let attempt = 1; ; attempt++) {
      if (await this.probe(probe.id, probe.seedFile)) return "applied";
      if (attempt >= 5) throw new EnrollmentError(`the hub did not start serving provider ${probe.id} after reloading its accounts`);
      await reload();
    }
  }

  /** Connects as the provider and sends a request the hub (this connection) answers. */
  async probe(id: ProviderId, seedFile: string, timeoutMs = 1_500): Promise<boolean> {
    const subject = requestSubject(Service.Keys, "probe", id);
    const sub = this.hub.subscribe(subject, { callback: (_e, m) => void m.respond(new Uint8Array([1])) });
    let nc: NatsConnection | undefined;
    try {
      await this.hub.flush();
      nc = await connect({ servers: this.target.hubUrl, name: `interlink-probe-${id}`, reconnect: false, authenticator: nkeyFileAuthenticator(seedFile) });
      const prefix = `${inboxPrefix(id)}.${nuid.next()}`;
      const answered = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), timeoutMs);
        nc!.subscribe(`${prefix}.*`, {
          max: 1,
          callback: (_e, m) => {
            clearTimeout(t);
            // A status message (503) means the import is not wired yet.
            resolve(m.data.length > 0);
          },
        });
      });
      nc.publish(subject, new Uint8Array(0), { reply: `${prefix}.1` });
      return await answered;
    } catch {
      return false;
    } finally {
      sub.unsubscribe();
      await nc?.close().catch(() => undefined);
    }
  }

  /** Whether a client with this seed is refused (after a removal). */
  async refused(seedFile: string): Promise<boolean> {
    try {
      const nc = await connect({ servers: this.target.hubUrl, reconnect: false, authenticator: nkeyFileAuthenticator(seedFile), timeout: 2_000 });
      await nc.close();
      return false;
    } catch {
      return true;
    }
  }

  async list(): Promise<ProviderRecord[]> {
    return this.registry.list();
  }

  /**
   * Records the provider, issues its credentials (files, 0600) and applies the accounts.
   * Refuses an id that is already enrolled; a removed id may be enrolled again (new credentials).
   */
  async add(id: ProviderId, o: EnrollOptions = {}): Promise<{ record: ProviderRecord; files: ProviderFiles; applied: string }> {
    const existing = await this.registry.get(id);
    if (existing?.value.status === "active") throw new EnrollmentError(`provider ${id} is already enrolled`);
    const files = this.files(id);
    removeProviderFiles(files);
    const key = createUserKey(files.userSeed);
    const password = newLeafPassword();
    writeSecret(files.leafPassword, password + "\n");
    if (this.target.leafUrl !== undefined) writeSecret(files.leafRemote, renderLeafRemote(this.target.leafUrl, leafUserName(id), password));
    const record: ProviderRecord = {
      v: 1,
      id,
      contact: o.contact ?? "",
      protocols: [...(o.protocols !== undefined && o.protocols.length > 0 ? o.protocols : [DEFAULT_PROTOCOL])],
      quotas: o.quotas ?? {},
      nkey: key.publicKey,
      leafUser: leafUserName(id),
      status: "active",
      createdAt: Date.now(),
    };
    const put = await this.registry.put(record, existing?.revision ?? 0);
    if (E.isLeft(put)) {
      removeProviderFiles(files);
      throw new EnrollmentError(`provider ${id}: ${put.left.message}`);
    }
    const applied = await this.apply({ id, seedFile: files.userSeed });
    this.log.info("provider enrolled", { provider: id, applied });
    return { record, files, applied };
  }

  /**
   * Marks the provider removed, applies the accounts (its client connections are closed by the
   * server, its account keeps no imports), then deletes its credential files.
   */
  async remove(id: ProviderId): Promise<{ record: ProviderRecord; applied: string }> {
    const existing = await this.registry.get(id);
    if (existing === null || existing.value.status !== "active") throw new EnrollmentError(`provider ${id} is not enrolled`);
    const record: ProviderRecord = { ...existing.value, status: "removed", removedAt: Date.now() };
    const put = await this.registry.put(record, existing.revision);
    if (E.isLeft(put)) throw new EnrollmentError(`provider ${id}: ${put.left.message}`);
    const applied = await this.apply();
    const files = this.files(id);
    if (applied === "applied") {
      for (let i = 0; i < 20 && !(await this.refused(files.userSeed)); i++) await sleep(100);
    }
    removeProviderFiles(files);
    this.log.info("provider removed", { provider: id, applied });
    return { record, applied };
  }
}
