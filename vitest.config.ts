import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // integration tests run real PostgreSQL clusters: one file at a time on a 2-core machine
    fileParallelism: false,
    // no wall-clock limits inside tests (shared, noisy machines): only a hang guard
    testTimeout: 3_600_000,
    hookTimeout: 3_600_000,
    setupFiles: [],
  },
})
