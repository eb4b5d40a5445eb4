/**
 * The evidence ledger of the local site: append a record and copy it offsite (best effort: a
 * record that could not be copied goes with the next one), verify the chain and the offsite
 * copy, record a human sign-off.
 */
import { signoffsDue, SIGNOFF_ITEMS, SIGNOFF_NAMES, type Signoff, type SignoffDue } from '../../../../core/signoffs.ts'
import { InputError, inputError, Refusal, firstLine } from '../../../../core/errors.ts'
import { appendEvidence, ledgerLines, readEvidence, verifyChain, type EvidenceRecord } from '../../output/evidence.ts'
import { log } from '../../output/log.ts'
import { localOffsite } from '../exports/offsite.ts'
import { compareWithOffsite, syncLedgerOffsite } from './offsite-ledger.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

/**
 * Where a stack's records go: the local site's ledger (copied offsite), or a cloud stack's
 * ledger beside its audit log (hash-chained; kept in the stack's vault is still to come).
 */
export type EvidenceTarget = LocalSitePort | { stack: string; file: string }

/** Append a record; then copy what the bucket lacks. Returns how the offsite copy went. */
export async function recordEvidence(target: EvidenceTarget, record: EvidenceRecord): Promise<string> {
  if (!('layout' in target)) {
    appendEvidence(target.file, record)
    return `kept in ${target.file} (a cloud stack's ledger has no offsite copy yet)`
  }
  const site = target
  appendEvidence(site.layout.evidenceFile, record)
  const down = await site.offsite.down()
  if (down) {
    const why = `not copied offsite yet (${down}): the next record takes it along`
    log.warn(`evidence ledger: ${why}`)
    return why
  }
  const { store } = localOffsite(site)
  try {
    const n = await syncLedgerOffsite(store, ledgerLines(site.layout.evidenceFile))
    return `copied offsite (${n} record(s))`
  } catch (e) {
    const why = `not copied offsite yet (${firstLine(e)}): the next record takes it along`
    log.warn(`evidence ledger: ${why}`)
    return why
  } finally {
    store.close()
  }
}

export interface LedgerCheck {
  ok: boolean
  records: number
  problems: string[]
  offsite: 'matches' | 'unreachable' | 'differs'
  /** records held offsite */
  offsiteRecords: number | null
}

/** The chain intact, and every offsite record equal to the local one at its position. */
export async function verifyLedger(site: LocalSitePort): Promise<LedgerCheck> {
  const file = site.layout.evidenceFile
  const chain = verifyChain(file)
  const problems = chain.ok ? [] : [`${file}: ${chain.problem}`]
  const { store } = localOffsite(site)
  let offsite: LedgerCheck['offsite'] = 'matches'
  let offsiteRecords: number | null = null
  try {
    const down = await site.offsite.down()
    if (down) throw new Error(down)
    const cmp = await compareWithOffsite(store, ledgerLines(file))
    offsiteRecords = cmp.offsite
    if (cmp.departs) {
      offsite = 'differs'
      problems.push(`${file}: ${cmp.departs}`)
    }
  } catch (e) {
    offsite = 'unreachable'
    log.warn(`the ledger's offsite copy could not be read: ${firstLine(e)}`)
  } finally {
    store.close()
  }
  return { ok: problems.length === 0, records: chain.entries, problems, offsite, offsiteRecords }
}

export function parseSignoff(item: string | undefined, by: string | undefined): { item: string; by: string } {
  if (!item || !(SIGNOFF_NAMES as string[]).includes(item))
    throw inputError('--item', item, `must be one of ${SIGNOFF_NAMES.join(', ')}`, 'e.g. --item training')
  if (!by?.trim()) throw inputError('--by', by, 'must name the person signing off', 'e.g. --by "Ada Lovelace"')
  // bytes that are not UTF-8 arrive as U+FFFD: the record would keep a name nobody wrote
  if (/[\uFFFD\p{Cc}\p{Cf}]/u.test(by))
    throw inputError(
      '--by',
      by,
      'must be a name in readable text (the value holds bytes that are not UTF-8, or control characters)',
      'e.g. --by "Ada Lovelace"',
    )
  return { item, by: by.trim() }
}

export async function signOff(site: LocalSitePort, item: string, by: string, note?: string): Promise<string> {
  const what = SIGNOFF_ITEMS[item as keyof typeof SIGNOFF_ITEMS].what
  return recordEvidence(site, { kind: 'signoff', at: new Date().toISOString(), item, what, by, note: note ?? null })
}

export function signoffStatus(site: LocalSitePort, now = new Date()): SignoffDue[] {
  const signoffs = readEvidence(site.layout.evidenceFile).filter((r) => r.kind === 'signoff') as unknown as Signoff[]
  return signoffsDue(signoffs, now)
}

/** A failover's or restore's record: what happened, the numbers, or why it failed (refusals change nothing and are not recorded). */
export async function recordOutcome(
  site: EvidenceTarget,
  kind: 'failover' | 'restore',
  outcome: { report: Record<string, unknown> } | { error: unknown },
): Promise<void> {
  if ('error' in outcome && (outcome.error instanceof InputError || outcome.error instanceof Refusal)) return
  const at = new Date().toISOString()
  const record: EvidenceRecord =
    'report' in outcome
      ? { kind, at, verdict: 'ok', ...pick(outcome.report, OUTCOME_FIELDS[kind]) }
      : { kind, at, verdict: 'failed', error: firstLine(outcome.error) }
  await recordEvidence(site, record)
}

const OUTCOME_FIELDS = {
  failover: ['from', 'to', 'mode', 'lossWindowSeconds', 'lossBasis', 'timings'],
  restore: ['mode', 'target', 'repo', 'backup', 'backupType', 'reached', 'timings'],
}

const pick = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.map((k) => [k, o[k] ?? null]))
