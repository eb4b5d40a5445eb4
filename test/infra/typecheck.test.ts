/** The programs, runbooks and tests type-check under strict TypeScript (tsc --noEmit). */
import { it, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

it('tsc --noEmit is clean', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const r = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '--noEmit', '-p', root], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  expect(r.stdout + r.stderr).toBe('')
  expect(r.status).toBe(0)
})
