/**
 * Structured logging seam. Services receive a Logger; nothing logs through a global.
 * Fields must never carry plaintext, key material or raw user ids: log opaque tokens and counts.
 */
export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LogLevel;

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export const parseLogLevel = (s: string | undefined, fallback: LogLevel = "info"): LogLevel =>
  s !== undefined && Object.hasOwn(LogLevel, s) ? (s as LogLevel) : fallback;

/** JSON lines on stderr, so stdout stays free for command output (`--json`). */
export const createLogger = (
  opts: { level?: LogLevel; base?: LogFields; write?: (line: string) => void } = {},
): Logger => {
  const min = LogLevel[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const base = opts.base ?? {};
  const emit = (level: Exclude<LogLevel, "silent">, msg: string, fields?: LogFields) => {
    if (LogLevel[level] < min) return;
    write(JSON.stringify({ t: new Date().toISOString(), level, msg, ...base, ...fields }));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
  };
};

export const silentLogger: Logger = createLogger({ level: "silent" });
