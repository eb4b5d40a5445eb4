/**
 * The erasure ledger of a cloud stack. No workstation file is its home: its records are objects
 * in every S3 vault of the stack (`erasures/000001-<sha>.json` at the bucket's root, beside the
 * pgBackRest repo path), one per record, written once (the vault buckets are object-locked), each
 * carrying the hash of the record before it. A restore reads every vault it can reach: the copies
 * must agree (one may lack the newest records: the primary region's vault replicates to the
 * other, and a region can be down), the chain must hold; a copy that departs, or no copy read at
 * all, and nothing restored serves. One writer at a time: two erasures racing would both write
 * record N, and every later read refuses the fork rather than guess.
 */
import { firstLine, inputError } from '../../../../core/errors.ts'
import type { Inventory } from '../../../../core/inventory.ts'
import { awsCredentials } from '../../adapters/aws-credentials.ts'
import type { ObjectStore } from '../../adapters/object-store.ts'
import { repoObjectStore } from '../../sites/cloud/repos.ts'
import { chainedLine, verifyChainLines } from '../../output/audit.ts'
import { readOffsiteLedger, syncLedgerOffsite, type OffsiteLedger } from '../evidence/offsite-ledger.ts'
import { ERASURES_PREFIX, type ErasureRecord } from './erasure.ts'

export const CLOUD_ERASURES: OffsiteLedger = { prefix: ERASURES_PREFIX, ext: '.json' }

export interface LedgerVault {
  name: string
  store: ObjectStore
}

export interface CloudLedger {
  lines: string[]
  records: ErasureRecord[]
  /** what the reader should know: a vault unreachable, or behind the others */
  notes: string[]
}

/** The stack's S3 vaults: where its erasure ledger lives (none: a stack that keeps none). */
export const s3Vaults = (inv: Inventory) => inv.pgbackrest.repos.filter((r) => r.type === 's3' && r.bucket)

/** Every S3 vault of the stack, with the credentials the repos are read with. */
export async function ledgerVaults(inv: Inventory, env = process.env): Promise<LedgerVault[]> {
  const repos = s3Vaults(inv)
  if (!repos.length)
    throw inputError(
      'inventory',
      inv.stack,
      'has no S3 vault: the cloud erasure ledger lives in the S3 vaults of the stack people are erased on (prod)',
      'pass the prod inventory',
    )
  return Promise.all(
    repos.map(async (r) => ({
      name: `repo${r.index} (s3://${r.bucket}/${CLOUD_ERASURES.prefix})`,
      store: repoObjectStore(r, await awsCredentials(r.region ?? 'us-east-1', env), env),
    })),
  )
}

export const closeVaults = (vaults: LedgerVault[]) => vaults.forEach((v) => v.store.close())

/** Work on the stack's vaults, closed after. */
export async function withVaults<T>(inv: Inventory, env: NodeJS.ProcessEnv, fn: (v: LedgerVault[]) => Promise<T>) {
  const vaults = await ledgerVaults(inv, env)
  try {
    return await fn(vaults)
  } finally {
    closeVaults(vaults)
  }
}

const distrust = (why: string) =>
  new Error(
    `the cloud erasure ledger cannot be trusted: ${why}. Nothing restored may serve until it is: compare the vaults' erasures/ objects`,
  )

/** The ledger from every vault reachable, checked: copies that agree, a chain that holds. */
export async function readCloudLedger(vaults: LedgerVault[]): Promise<CloudLedger> {
  const copies: { v: LedgerVault; lines: string[] }[] = []
  const notes: string[] = []
  for (const v of vaults) {
    try {
      copies.push({ v, lines: await readOffsiteLedger(v.store, CLOUD_ERASURES) })
    } catch (e) {
      const why = firstLine(e)
      if (/does not match|lacks record/.test(why)) throw distrust(`${v.name}: ${why}`)
      notes.push(`${v.name} could not be read (${why})`)
    }
  }
  if (!copies.length)
    throw new Error(
      `the cloud erasure ledger could not be read from any vault (${notes.join('; ')}): nobody can say who was erased, so nothing restored may serve. Bring a vault back (credentials, network), then re-run`,
    )
  const longest = copies.reduce((a, b) => (b.lines.length > a.lines.length ? b : a))
  for (const c of copies) {
    const at = c.lines.findIndex((l, i) => l !== longest.lines[i])
    if (at >= 0) throw distrust(`record ${at + 1} differs between ${c.v.name} and ${longest.v.name}`)
    if (c.lines.length < longest.lines.length)
      notes.push(
        `${c.v.name} lacks the newest ${longest.lines.length - c.lines.length} record(s): the next erasure copies them`,
      )
  }
  const chain = verifyChainLines(longest.lines)
  if (!chain.ok) throw distrust(chain.problem ?? 'its hash chain is broken')
  return { lines: longest.lines, records: longest.lines.map((l) => JSON.parse(l) as ErasureRecord), notes }
}

/**
 * Append a record, chained to the last one, to every vault reachable (and the records a vault
 * lacks with it). Throws when no vault took it: the caller has not committed the deletion yet.
 */
export async function appendCloudErasure(
  vaults: LedgerVault[],
  ledger: CloudLedger,
  record: ErasureRecord,
): Promise<string> {
  const lines = [...ledger.lines, chainedLine(ledger.lines.at(-1) ?? '', record)]
  const took: string[] = []
  const missed: string[] = []
  for (const v of vaults)
    await syncLedgerOffsite(v.store, lines, CLOUD_ERASURES).then(
      () => took.push(v.name),
      (e: unknown) => missed.push(`${v.name}: ${firstLine(e)}`),
    )
  if (!took.length) throw new Error(`no vault took the record (${missed.join('; ')})`)
  return `recorded in ${took.join(' and ')}${missed.length ? `; not in ${missed.join('; ')} (the next erasure copies it there)` : ''}`
}
