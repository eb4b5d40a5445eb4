/**
 * Scratch clusters (proofs, drills' restores) belong to the runbook that made them: each has an
 * owner file beside it naming that runbook's pid. One whose owner is gone (killed midway) is
 * stopped by its own postmaster pid and removed by path — by the next proof and by `up` —
 * and nothing else in the scratch directory is touched.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { postmasterPid } from '../../adapters/postgres.ts'
import { pidAlive, processesWith } from '../../adapters/process.ts'
import type { SiteHandle } from './handle.ts'

const ownerFile = (dir: string) => `${dir}.owner`

/** Mark a scratch directory as this process's. */
export function claimScratch(dir: string): void {
  writeFileSync(ownerFile(dir), `${process.pid}\n`)
}

export function releaseScratch(dir: string): void {
  rmSync(ownerFile(dir), { force: true })
}

/** Stop and remove every scratch cluster whose owner process is gone; what was removed. */
export async function removeOrphanScratch(site: SiteHandle): Promise<string[]> {
  const root = site.layout.scratchDir
  if (!existsSync(root)) return []
  const removed: string[] = []
  for (const f of readdirSync(root).filter((n) => n.endsWith('.owner'))) {
    const dir = join(root, f.slice(0, -'.owner'.length))
    const owner = Number(readFileSync(join(root, f), 'utf8').trim())
    if (pidAlive(owner)) continue
    if (postmasterPid(dir)) await site.pg.stop(dir, 'immediate').catch(() => {})
    if (postmasterPid(dir)) continue // still running: leave it for the next look rather than remove a live cluster
    // a restore its runbook started may still be writing into it
    if (processesWith((argv) => argv.some((a) => a.includes(dir))).length) continue
    rmSync(dir, { recursive: true, force: true })
    rmSync(join(root, f), { force: true })
    removed.push(`${dir} (its runbook, pid ${owner}, is gone)`)
  }
  return removed
}
