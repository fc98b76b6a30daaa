import { findNatsServer, natsServerVersion } from "@interlink/natsd";

/**
 * vitest globalSetup: finds (or, as root with apt-get, installs) nats-server once and hands the
 * path to every worker through the environment they inherit.
 */
export default async function setup(): Promise<void> {
  let binary: string;
  try {
    binary = await findNatsServer({ install: true, log: (line) => console.log(line) });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`The integration tests need nats-server.\n${message}`, { cause: err });
  }
  process.env.INTERLINK_NATS_SERVER = binary;
  const version = await natsServerVersion(binary).catch(() => "unknown version");
  console.log(`using nats-server ${version} at ${binary}`);
}
