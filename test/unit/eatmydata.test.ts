/**
 * The eatmydata adapter, for real: under its environment a program's fsync never reaches the
 * kernel (strace counts the system calls), and a library already preloaded stays preloaded.
 */
import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { eatmydataLibrary, unsyncedEnv } from '../../runbooks/lib/adapters/eatmydata.ts'

/** The fsync and fdatasync calls `dd conv=fsync` makes, as the kernel sees them. */
function syncCalls(env: Record<string, string>): number {
  const dir = mkdtempSync(join(tmpdir(), 'eatmydata-'))
  try {
    const r = spawnSync(
      'strace',
      [
        '-f',
        '-e',
        'trace=fsync,fdatasync',
        '-o',
        join(dir, 'trace'),
        'dd',
        'if=/dev/zero',
        `of=${join(dir, 'f')}`,
        'bs=4k',
        'count=1',
        'conv=fsync',
      ],
      { env: { ...process.env, ...env }, encoding: 'utf8' },
    )
    expect(r.status, r.stderr).toBe(0)
    return readFileSync(join(dir, 'trace'), 'utf8')
      .split('\n')
      .filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('eatmydata', () => {
  it('is installed (scripts/setup.sh)', () => {
    expect(eatmydataLibrary()).toMatch(/libeatmydata\.so\.1$/)
  })

  it("keeps a program's fsync from the kernel; without it, the fsync is made", () => {
    expect(syncCalls({})).toBeGreaterThan(0)
    expect(syncCalls(unsyncedEnv(undefined))).toBe(0)
  })

  it('goes ahead of a library already preloaded, and keeps it', () => {
    expect(unsyncedEnv('/opt/x/libother.so')).toEqual({ LD_PRELOAD: `${eatmydataLibrary()}:/opt/x/libother.so` })
  })
})
