/** A size the server parses itself: a byte count, or a string such as "512M" or "1G". */
export type ByteSize = number | string;

export interface JetStreamConfig {
  /** nats-server keeps its data in `<storeDir>/jetstream`. */
  readonly storeDir: string;
  readonly maxMemory?: ByteSize;
  readonly maxFile?: ByteSize;
  /** Needed when JetStream-enabled servers are joined by leafnodes, so their APIs do not clash. */
  readonly domain?: string;
}

export interface ClusterConfig {
  readonly name: string;
  /** Defaults to the server's `host`. */
  readonly host?: string;
  readonly port: number;
  /** Route URLs such as `nats-route://127.0.0.1:6222`. */
  readonly routes: readonly string[];
}

export interface LeafnodeListenConfig {
  /** Defaults to the server's `host`. */
  readonly host?: string;
  readonly port: number;
}

export interface LeafRemoteConfig {
  /** Such as `nats-leaf://127.0.0.1:7422`. */
  readonly url: string;
  /** Local account the link is bound to. */
  readonly account?: string;
  /** Subjects this leaf never sends over the link. */
  readonly denyExports?: readonly string[];
  /** Subjects this leaf never accepts from the link. */
  readonly denyImports?: readonly string[];
}

/**
 * What `renderConfig` understands. Only fields nats-server 2.9 knows are produced, because
 * 2.9 is the oldest server the project supports.
 */
export interface NatsServerConfig {
  /** Defaults to 127.0.0.1. */
  readonly host?: string;
  /** Client port. `renderConfig` writes it as given; `startNatsServer` replaces 0 or absent by a free port. */
  readonly port?: number;
  readonly serverName?: string;
  /** Monitoring port (`/varz`, `/routez`, `/leafz`, `/jsz`). */
  readonly httpPort?: number;
  readonly jetstream?: false | JetStreamConfig;
  readonly cluster?: ClusterConfig;
  /** Accept leafnode connections. */
  readonly leafnodes?: LeafnodeListenConfig;
  /** Connect out to other servers as a leafnode. */
  readonly leafRemotes?: readonly LeafRemoteConfig[];
  readonly maxPayload?: number;
  /** The body of an `accounts { }` block (or a whole `accounts` block), written verbatim. */
  readonly accounts?: string;
  /**
   * Files pulled in with `include` (after everything else), such as a generated accounts file
   * kept with mode 0600. Relative paths are relative to the config file's directory, which is
   * how nats-server resolves them.
   */
  readonly includes?: readonly string[];
  /** Written verbatim at the end of the file. */
  readonly extra?: string;
  readonly debug?: boolean;
  readonly trace?: boolean;
}

/** JetStream settings for `startNatsServer`, where the store directory may be left to it. */
export type StartJetStreamConfig = Omit<JetStreamConfig, "storeDir"> & { readonly storeDir?: string };

export interface StartOptions extends Omit<NatsServerConfig, "jetstream"> {
  /** `true` or an object without `storeDir` keeps the data in `<workDir>/jetstream`. */
  readonly jetstream?: boolean | StartJetStreamConfig;
  /** Path to nats-server; found with `findNatsServer({ install: false })` when absent. */
  readonly binary?: string;
  /** Holds the config file and the log; a fresh temporary directory when absent. */
  readonly workDir?: string;
  readonly readyTimeoutMs?: number;
  /** Environment of the server process (and of the binary lookup); defaults to `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface NatsServerHandle {
  /** Pid of the current process (it changes on `restart()`). */
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** `nats://host:port`, with a loopback host when the server listens on every interface. */
  readonly url: string;
  readonly serverName?: string;
  readonly clusterPort?: number;
  readonly leafPort?: number;
  readonly httpPort?: number;
  readonly configPath: string;
  readonly logPath: string;
  readonly workDir: string;
  readonly storeDir?: string;
  readonly running: boolean;
  /** Resolves with the exit code (null when killed by a signal) of the current process. */
  readonly exited: Promise<number | null>;
  /** The last ~200 KB of the server's output, across restarts. */
  logs(): string;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process has exited. Files are kept. */
  stop(timeoutMs?: number): Promise<void>;
  /**
   * Re-reads the config file (SIGHUP) without dropping connections; resolves once the server
   * logged the reload, rejects with the server's reason if it refused the new file.
   */
  reload(timeoutMs?: number): Promise<void>;
  /** Sends a signal without waiting, for fault tests. */
  kill(signal?: NodeJS.Signals): void;
  /** Stops the process if it runs, then starts it again with the same config, ports and store. */
  restart(): Promise<void>;
  /** `stop()`, then removes the work directory if `startNatsServer` created it. */
  dispose(): Promise<void>;
}

export interface FindOptions {
  /** Defaults to `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Install with apt-get when running as root and nothing was found. Defaults to true. */
  readonly install?: boolean;
  readonly log?: (line: string) => void;
  /** Directories searched after PATH, because PATH often lacks the sbin directories. */
  readonly fallbackDirs?: readonly string[];
}

export const NatsdErrorCode = {
  notFound: "not_found",
  installFailed: "install_failed",
  startFailed: "start_failed",
  timeout: "timeout",
} as const;
export type NatsdErrorCode = (typeof NatsdErrorCode)[keyof typeof NatsdErrorCode];

export type NatsdFailure =
  | { readonly code: "not_found"; readonly message: string }
  | { readonly code: "install_failed"; readonly message: string }
  | { readonly code: "start_failed"; readonly message: string }
  | { readonly code: "timeout"; readonly message: string };
