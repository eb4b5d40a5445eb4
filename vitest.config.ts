import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // integration files run real PostgreSQL sites, each on its own port range and state directory:
    // two files at a time on a 2-core machine (much of a file's time is waiting on servers)
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    // no wall-clock limits inside tests (shared, noisy machines): only a hang guard
    testTimeout: 3_600_000,
    hookTimeout: 3_600_000,
    setupFiles: [],
  },
})
