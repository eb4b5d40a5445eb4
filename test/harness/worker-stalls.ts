// setupFiles: each test file's worker watches its own event loop (stall-monitor.ts)
import { expect } from 'vitest'
import { watchStalls } from './stall-monitor.ts'

watchStalls(() => {
  const s = expect.getState()
  return `worker ${process.pid} (at or just before: ${s.testPath?.replace(/^.*\/test\//, 'test/') ?? '?'} > ${s.currentTestName ?? 'between tests'})`
})
