/** The programs, runbooks and tests type-check under strict TypeScript (tsc --noEmit). */
import { it, expect } from 'vitest'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { fileURLToPath } from 'node:url'

// asynchronous: a worker blocked in spawnSync misses vitest's RPC replies ("Timeout calling onTaskUpdate")
it('tsc --noEmit is clean', async () => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const tsc = `${root}node_modules/typescript/bin/tsc`
  const r = await run(process.execPath, [tsc, '--noEmit', '-p', root], { env: { NODE_OPTIONS: '' }, nothrow: true })
  expect(r.stdout + r.stderr).toBe('')
  expect(r.code).toBe(0)
})
