/**
 * The evidence ledger: one JSON line per proof (and, later, drill, failover, restore), each
 * carrying the SHA-256 of the line before it, so an altered, removed or reordered record breaks
 * the chain. The same chain as the audit log; `verifyChain` finds where it breaks.
 */
import { existsSync, readFileSync } from 'node:fs'
import { appendChained, verifyAuditChain } from './audit.ts'

export interface EvidenceRecord {
  kind: 'proof' | 'files-proof' | 'signoff' | 'drill' | 'failover' | 'restore'
  at: string
  [k: string]: unknown
}

export const verifyChain = verifyAuditChain

export function appendEvidence(file: string, record: EvidenceRecord): void {
  appendChained(file, record, 0o640)
}

export function ledgerLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []
}

export function readEvidence(file: string): EvidenceRecord[] {
  return ledgerLines(file).map((l) => JSON.parse(l) as EvidenceRecord)
}
