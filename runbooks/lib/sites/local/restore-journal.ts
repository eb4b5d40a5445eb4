/**
 * The in-place restore's journal: the step it reached, written before each irreversible one, so
 * that `up` can finish or undo a restore that was killed (kill -9, a crash, a power cut) instead
 * of starting a half-swapped primary. Its only writer is this module; the procedure asks it.
 *
 *   staging  the restore is being built beside the primary (nothing of the site changed)
 *   fenced   traffic is fenced and nodes may be stopped (no directory moved yet)
 *   swapping the directories are being exchanged (either rename may have happened)
 *   swapped  the restored copy sits in the primary's place, not yet proven
 *   proven   the restored primary took a write, its erasures re-applied, its WAL archived
 *
 * `up` undoes everything up to `swapped` (the original directory back, the staged or restored
 * copy kept aside) and finishes `proven` (traffic to the restored primary, standbys cloned anew).
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { postmasterPid } from '../../adapters/postgres.ts'
import { pidAlive, processesWith } from '../../adapters/process.ts'
import type { SiteHandle } from './handle.ts'
import type { Layout } from './layout.ts'
import type { Change } from './state.ts'
import type { InPlaceJournal, InPlacePhase } from '../local-port.ts'
import { writeNodeSettings } from './node-settings.ts'

export type { InPlaceJournal, InPlacePhase }

const fileOf = (layout: Layout) => join(layout.stateDir, 'in-place-restore.json')

export function readJournal(layout: Layout): InPlaceJournal | undefined {
  const f = fileOf(layout)
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as InPlaceJournal) : undefined
}

/** Record the step about to be taken (written whole, then renamed: never half a journal). */
export function writeJournal(layout: Layout, j: InPlaceJournal): void {
  const f = fileOf(layout)
  writeFileSync(`${f}.tmp`, JSON.stringify(j) + '\n', { mode: 0o600 })
  renameSync(`${f}.tmp`, f)
}

export function clearJournal(layout: Layout): void {
  rmSync(fileOf(layout), { force: true })
}

/** `up`: an in-place restore whose runbook is gone, undone or finished from the step it reached. */
export async function recoverInterruptedInPlace(site: SiteHandle): Promise<Change[]> {
  const j = readJournal(site.layout)
  if (!j || pidAlive(j.pid)) return []
  const data = site.layout.node(j.primary).data
  const stopIfRunning = async (dir: string) => {
    if (existsSync(dir) && postmasterPid(dir)) await site.pg.stop(dir, 'immediate').catch(() => {})
  }
  if (j.phase === 'proven') {
    // the restored primary is proven: finish. Its standbys follow the abandoned history: set aside, cloned anew by up
    const kept: string[] = []
    for (const n of j.standbys) {
      const dir = site.layout.node(n).data
      await stopIfRunning(dir)
      if (existsSync(dir)) {
        // the procedure may have set one aside under this name already (and begun a clone since)
        let aside = `${dir}.replaced-${j.stamp}`
        for (let i = 2; existsSync(aside); i++) aside = `${dir}.replaced-${j.stamp}.${i}`
        renameSync(dir, aside)
        kept.push(aside)
      }
    }
    rmSync(j.held, { recursive: true, force: true })
    clearJournal(site.layout)
    return [
      `finished the in-place restore to ${j.target} that was interrupted after it was proven: ${j.primary} serves the restored data; its standbys are cloned anew (old ones kept: ${[j.replaced, ...kept].join(', ')}); take a full backup of the new timeline: npx zx runbooks/backup.ts --type full`,
    ]
  }
  // not proven: the original data directory goes back in place, whatever step was reached. A
  // pgBackRest restore the killed runbook started may still be writing the staged copy
  const writers = processesWith((argv) => !argv[0]?.endsWith('/postgres') && argv.some((a) => a.includes(j.staging)))
  if (writers.length)
    throw new Error(
      `an interrupted in-place restore's staged copy ${j.staging} is still being written by pid ${writers.join(', ')} (its pgBackRest restore outlived the runbook): wait for it to end (or stop it by pid), then run local.ts up again`,
    )
  await stopIfRunning(j.staging)
  let keptCopy: string | undefined
  if (existsSync(j.replaced)) {
    await stopIfRunning(data)
    if (existsSync(data)) {
      keptCopy = `${data}.failed-${j.stamp}`
      renameSync(data, keptCopy)
    }
    renameSync(j.replaced, data)
  }
  if (existsSync(j.staging)) rmSync(j.staging, { recursive: true, force: true })
  rmSync(j.held, { recursive: true, force: true })
  // the original primary's own settings (the restored copy's held archiving must not stay)
  writeNodeSettings(site, j.primary, 'primary', { primary: j.primary, syncStandbys: [] })
  clearJournal(site.layout)
  return [
    `undid the in-place restore to ${j.target} that was interrupted (${j.phase}): ${j.primary} serves its original data again${keptCopy ? `; the restored copy is kept at ${keptCopy}` : ''}; nothing of it reached the archive`,
  ]
}
