import { defineConfig } from "vitest/config";

// End-to-end tests: Node drives a real `wrangler dev` (started once by the global setup on a
// free port, with its own state directory) over HTTP, as an outside client would.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.test.ts"],
    globalSetup: ["./test/e2e/global-setup.ts"],
    setupFiles: ["./test/e2e/check-fetch.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
