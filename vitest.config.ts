import { defineConfig } from 'vitest/config'
import { LongestFirst } from './test/harness/sequencer.ts'
import { watchStalls } from './test/harness/stall-monitor.ts'

watchStalls(() => `vitest runner ${process.pid}`)

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // integration files run real PostgreSQL sites, each on its own port range and state directory.
    // Three files at a time on a 2-core machine, the CPU bounds it (2026-12-08: 694 tests, 6,264 s of
    // file time in 2,190 s); two workers took 60 min before the policy's cron checks got cheap
    fileParallelism: true,
    maxWorkers: 3,
    minWorkers: 1,
    // no wall-clock limits inside tests (shared, noisy machines): only a hang guard
    testTimeout: 3_600_000,
    hookTimeout: 3_600_000,
    setupFiles: ['./test/harness/worker-stalls.ts'],
    // a late RPC acknowledgement with every result in passes, said loudly (test/harness/rpc-ack-guard.ts)
    reporters: ['default', './test/harness/rpc-ack-guard.ts'],
    sequence: { sequencer: LongestFirst },
  },
})
