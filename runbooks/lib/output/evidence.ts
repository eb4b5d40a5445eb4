/**
 * The evidence ledger: one JSON line per proof (and, later, drill, failover, restore), each
 * carrying the SHA-256 of the line before it, so an altered, removed or reordered record breaks
 * the chain. The same chain as the audit log; `verifyChain` finds where it breaks.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { verifyAuditChain } from './audit.ts'

export interface EvidenceRecord {
  kind: 'proof' | 'signoff'
  at: string
  [k: string]: unknown
}

export const verifyChain = verifyAuditChain

function lastLine(file: string): string {
  if (!existsSync(file)) return ''
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).at(-1) ?? ''
}

export function appendEvidence(file: string, record: EvidenceRecord): void {
  const last = lastLine(file)
  const prev = last ? createHash('sha256').update(last).digest('hex') : ''
  appendFileSync(file, JSON.stringify({ ...record, prev }) + '\n', { mode: 0o640 })
}

export function ledgerLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []
}

export function readEvidence(file: string): EvidenceRecord[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EvidenceRecord)
}
