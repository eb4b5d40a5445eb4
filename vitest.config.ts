import { defineConfig } from 'vitest/config'
import { LongestFirst } from './test/sequencer.ts'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // integration files run real PostgreSQL sites, each on its own port range and state directory.
    // Three files at a time on a 2-core machine: much of a file's time is waiting on servers, replay
    // and timers (686 tests, 6,937 s of file time: 60 min on two workers, over the 45-min budget;
    // three: 689 tests in 3,102 s, the CPU, not the waiting, bounds it now)
    fileParallelism: true,
    maxWorkers: 3,
    minWorkers: 1,
    // no wall-clock limits inside tests (shared, noisy machines): only a hang guard
    testTimeout: 3_600_000,
    hookTimeout: 3_600_000,
    setupFiles: [],
    sequence: { sequencer: LongestFirst },
  },
})
