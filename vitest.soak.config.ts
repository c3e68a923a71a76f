import { defineConfig } from 'vitest/config';

/** The long reliability runs (npm run soak): fuzzing with 1M+ cases, crash consistency with 20+ kills. */
export default defineConfig({
  test: {
    include: ['test/soak/**/*.soak.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 5 * 60_000,
    globalSetup: ['test/support/global-setup.ts'],
    fileParallelism: false,
  },
});
