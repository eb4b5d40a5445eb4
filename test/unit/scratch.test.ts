import { describe, expect, it } from 'vitest'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A child process that makes a scratch directory, prints it, and ends as `end` says without removing it. */
async function child(end: string): Promise<{ dir: string; code: number }> {
  const root = mkdtempSync(join(tmpdir(), 'labdojo-scratch-test-'))
  const script = `
    import { scratchDir } from ${JSON.stringify(join(process.cwd(), 'runbooks/lib/adapters/scratch.ts'))}
    const dir = scratchDir(${JSON.stringify(join(root, 'x-'))})
    console.log(dir)
    ${end}`
  const r = await run('npx', ['tsx', '--eval', script], { nothrow: true })
  const dir = r.stdout.trim()
  const left = readdirSync(root)
  rmSync(root, { recursive: true, force: true })
  expect(dir.startsWith(root), r.stderr).toBe(true)
  return { dir: left.length ? dir : '', code: r.code }
}

describe('scratch directories are gone when the process ends, even before their owner removes them', () => {
  it('process.exit in the middle of the work (an exporter stopped mid-catalog)', async () => {
    expect(await child('process.exit(0)')).toEqual({ dir: '', code: 0 })
  })

  it('an uncaught error', async () => {
    expect(await child("throw new Error('boom')")).toMatchObject({ dir: '' })
  })

  it('a signal the runbook honours by exiting', async () => {
    const r = await child(
      "process.on('SIGTERM', () => process.exit(143)); process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000)",
    )
    expect(r).toEqual({ dir: '', code: 143 })
  })

  it('removeScratch removes it at once', async () => {
    const { scratchDir, removeScratch } = await import('../../runbooks/lib/adapters/scratch.ts')
    const d = scratchDir(join(tmpdir(), 'labdojo-scratch-test-'))
    expect(existsSync(d)).toBe(true)
    removeScratch(d)
    expect(existsSync(d)).toBe(false)
  })
})
