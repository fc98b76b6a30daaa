import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "services/*/test/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    // Integration tests start real nats-server processes; a 2-core machine runs two files at a time.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Finds (or installs, as root, from the Debian package) nats-server once for every worker.
    globalSetup: ["packages/testing/dist/src/global-setup.js"],
  },
});
