/** Polls `check` until it returns a value other than undefined, or fails with what it last saw. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      const extra = opts.describe ? `\n${opts.describe()}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}${extra}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/** GET a monitoring endpoint (`/routez`, `/leafz`, `/jsz`) of a server started with an http port. */
export async function monitor<T = Record<string, unknown>>(httpPort: number | undefined, path: string): Promise<T> {
  if (httpPort === undefined) throw new Error(`server has no monitoring port for ${path}`);
  const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  return (await res.json()) as T;
}
