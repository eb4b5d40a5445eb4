/**
 * What every failover reports, local or cloud: one report, the dry run's, the outcome the
 * communication plan is told, and the report as an operator reads it at 3 a.m. The two
 * procedures (failover.ts, cloud-failover.ts) differ in how they fence and promote; what they
 * say afterwards is written once, here.
 */
import { formatDuration } from '../../../../core/duration.ts'
import type { NotifyResult } from '../../adapters/notify.ts'
import type { FailoverOutcome } from './notify-failover.ts'
import type { Salvage } from './salvage.ts'

export interface FailoverTimings {
  /** from the first failed probe to the decision (0 for a switchover) */
  detectSeconds?: number
  fenceSeconds?: number
  promoteSeconds?: number
  /** traffic switched and a write verified through the endpoint */
  switchSeconds?: number
  /** from the first failed probe (or the start) to the write verified */
  rtoSeconds: number
}

export interface FailoverReport<N extends string = string> {
  mode: 'failover' | 'switchover' | 'none'
  /** the guards' reason, in one sentence ('dry run' when a cloud dry run gathered no facts) */
  decision: string
  from: N
  to: N
  lossWindowSeconds: number
  /** what the window rests on (observed replay and commit times, never the settings) */
  lossBasis: string
  timings: FailoverTimings
  plan: string[]
  /** how the old primary was fenced, or why it could not be */
  fence: string
  /** what is left to do, in one sentence */
  next: string
  /** each recipient of the communication plan told, in order */
  notified: NotifyResult[]
  /** the DNS change that moved the clients (cloud) */
  dnsChange?: string
  /** commits a dead node still held on disk, replayed into the candidate before it was promoted (local) */
  salvaged?: Salvage
}

/** A dry run's report: the plan, nothing done. */
export function dryRunReport<N extends string>(
  decision: string,
  from: N,
  to: N,
  plan: string[],
  loss: { lossWindowSeconds: number; lossBasis: string } = {
    lossWindowSeconds: 0,
    lossBasis: 'dry run: no facts gathered',
  },
): FailoverReport<N> {
  const none = { fence: 'none', next: '', notified: [], timings: { rtoSeconds: 0 } }
  return { mode: 'none', decision, from, to, plan, ...loss, ...none }
}

/** What the communication plan is told. */
export function outcomeOf(r: FailoverReport): FailoverOutcome {
  const { mode, from, to, lossWindowSeconds, lossBasis, next } = r
  return { mode, from, to, rtoSeconds: r.timings.rtoSeconds, lossWindowSeconds, lossBasis, next }
}

const indent = (lines: string[]) => lines.map((l) => `  ${l}`).join('\n')

/** The report as printed; `stack` names a cloud stack (the local site's report names nodes only). */
export function renderFailover(r: FailoverReport, dryRun: boolean, stack?: string): string {
  const on = stack ? ` of stack ${stack}` : ''
  if (dryRun)
    return `${stack ? `failover plan for stack ${stack}:` : r.decision}\n${indent(r.plan)}\n(dry run: nothing was changed)\n`
  const t = r.timings
  const d = formatDuration
  const steps = [
    ['detect', t.detectSeconds],
    ['fence', t.fenceSeconds],
    ['promote', t.promoteSeconds],
    ['switch+verify', t.switchSeconds],
  ]
    .filter(([, s]) => s !== undefined)
    .map(([what, s]) => `${what} ${d(s as number)}`)
  const notified = r.notified.map((n) => `${n.recipient} ${n.ok ? 'ok' : `FAILED (${n.status})`}`).join(', ')
  const s = r.salvaged
  return (
    `${r.mode}${on} ${r.from} -> ${r.to} done\n` +
    `  RTO ${d(t.rtoSeconds)}${steps.length ? ` (${steps.join(', ')})` : ''}${r.dnsChange ? `, DNS change ${r.dnsChange}` : ''}\n` +
    `  data-loss window ${d(r.lossWindowSeconds)}: ${r.lossBasis}\n` +
    (s
      ? `  salvaged: ${s.replayed} of ${s.commits} commit(s) that only ${s.from}'s pg_wal held, replayed into ${r.to} before it was promoted (${s.segments.length} segment(s), up to ${s.upTo})\n`
      : '') +
    `  old primary: ${r.fence}\n` +
    `  notified: ${notified || 'no webhooks configured'}\n` +
    (r.next ? `  next: ${r.next}\n` : '')
  )
}
