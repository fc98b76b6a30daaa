/**
 * Runs `stop` once on the first SIGINT or SIGTERM and resolves with its exit code; a second
 * signal exits at once. Returns a function that removes the handlers (for tests and embedding).
 */
export const onShutdown = (stop: (signal: NodeJS.Signals) => Promise<void>, proc: NodeJS.Process = process): (() => void) => {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      proc.exit(130);
      return;
    }
    stopping = true;
    stop(signal).then(
      () => proc.exit(0),
      () => proc.exit(1),
    );
  };
  proc.on("SIGINT", handler);
  proc.on("SIGTERM", handler);
  return () => {
    proc.off("SIGINT", handler);
    proc.off("SIGTERM", handler);
  };
};
