import { defineConfig } from "vitest/config";

// Tests spawn real rank processes; on a 2-core machine more than two test files at once only
// oversubscribes further, so files run two at a time and each gets generous timeouts.
export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts", "bench/test/**/*.test.ts", "examples/test/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
