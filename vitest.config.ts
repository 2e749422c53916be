import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'threads',
    testTimeout: 60_000,
    // A fixed fast-check seed under plain `npm test` (test/setup/fast-check.ts).
    setupFiles: ['test/setup/fast-check.ts'],
  },
});
