/**
 * Failover and switchover on the local site, as named steps: gather the facts, decide (the
 * pure guards in core/failover.ts), then fence (the endpoint first, then the old primary),
 * catch up (switchover only), promote, reassign roles, switch traffic and verify a write,
 * notify. Every step goes to the audit log.
 */
import type { FailoverFacts } from '../../../../core/failover.ts'
import type { Webhook } from '../../adapters/notify.ts'
import { probe, query } from '../../adapters/postgres.ts'
import { controlData, logTail } from '../../adapters/cluster-files.ts'
import { waitFor } from '../../adapters/process.ts'
import { checkInterrupted, shielded } from '../../output/interrupt.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { decide, type Promotion } from './decide.ts'
import { notifyFailover } from './notify-failover.ts'
import { awaitWritable } from '../write-check.ts'
import { detect, gatherFacts, type FailoverOptions } from './facts.ts'
import { dryRunReport, outcomeOf, type FailoverReport } from './outcome.ts'
import { NODE_NAMES, type LocalSitePort, type NodeName, type SiteState } from '../../sites/local-port.ts'

export type { FailoverOptions }
export type LocalFailoverReport = FailoverReport<NodeName>

type Mode = Promotion['mode']

export function planLines(state: SiteState, candidate: NodeName, mode: Mode, endpointPort: number): string[] {
  const old = state.primary
  const endpoint = `route the endpoint 127.0.0.1:${endpointPort} nowhere`
  return [
    mode === 'switchover'
      ? `1. fence: ${endpoint}, then stop ${old} cleanly (fast)`
      : `1. fence: ${endpoint}, stop ${old} if it still runs, mark it fenced`,
    mode === 'switchover'
      ? `2. wait until ${candidate} has replayed ${old}'s shutdown checkpoint`
      : `2. (no catch-up possible from a dead primary)`,
    `3. promote ${candidate}`,
    `4. switch traffic: endpoint -> ${candidate}; verify a write through it`,
    `5. notify along the communication plan; ${mode === 'switchover' ? `rejoin ${old} as a standby` : `later: failback.ts rejoins ${old}`}`,
  ]
}

/** The whole failover: facts, decision, and (unless dry-run or refused) execution. */
export async function failover(
  site: LocalSitePort,
  o: FailoverOptions,
  audit: AuditLog,
  confirmFn: (q: string) => Promise<void>,
): Promise<LocalFailoverReport> {
  const hooks = site.webhooks() // every input read and validated before anything changes
  const { facts, candidate, salvaged } = await audit.step('gather the facts', () => gatherFacts(site, o))
  const decision = decide(facts, audit)
  const state = site.state()
  const plan = planLines(state, candidate, decision.mode, site.layout.ports.endpoint)
  if (o.dryRun) {
    audit.record('failover', 'dry-run', { plan })
    const { lossWindowSeconds, lossBasis } = facts
    return dryRunReport(decision.reason, state.primary, candidate, plan, { lossWindowSeconds, lossBasis })
  }
  log.info(decision.reason)
  log.info(plan.map((l) => `  ${l}`).join('\n'))
  await confirmFn(`${decision.mode} from ${state.primary} to ${candidate}: the old primary will be fenced.`)
  const report = await execute(site, facts, candidate, decision, audit, hooks)
  return salvaged ? { ...report, salvaged } : report
}

/** --watch: probe continuously; act by itself, with the same guards, after N consecutive failures. */
export async function watch(
  site: LocalSitePort,
  o: FailoverOptions,
  audit: AuditLog,
  maxSeconds: number,
): Promise<LocalFailoverReport | undefined> {
  const d = site.policy.detection
  const hooks = site.webhooks() // a bad webhook file is refused now, not after hours of watching and a promotion
  audit.record('watch', 'start', { threshold: d.failureThreshold, interval: d.probeInterval })
  // while the primary answers, the same loop keeps synchronous replication per the policy's syncFallback
  const guard = site.syncGuard(audit, hooks)
  const detection = await detect(site, {
    watch: true,
    until: maxSeconds > 0 ? Date.now() + maxSeconds * 1000 : undefined,
    afterHealthyRound: () => guard.round(),
  })
  if (detection.consecutiveFailures < detection.threshold) {
    audit.record('watch', 'ok', { result: 'primary stayed healthy' })
    return undefined
  }
  // acting changes the site: take its lock (a backup holding it ends soon with its primary gone)
  await site.lock('failover.ts --watch (failing over)', 60_000)
  return failover(site, { ...o, automatic: true, detection }, audit, async () => {})
}

export async function execute(
  site: LocalSitePort,
  facts: FailoverFacts,
  candidate: NodeName,
  decision: Promotion,
  audit: AuditLog,
  hooks: Webhook[],
): Promise<LocalFailoverReport> {
  const state = site.state()
  const old = state.primary
  const mode = decision.mode
  const t0 = Date.now()
  if (mode === 'switchover' && facts.candidateSite === 'warm') await streamBeforeSwitchover(site, old, candidate, audit)
  // from the fence on, the only safe place to stop is a new primary serving the endpoint: a
  // Ctrl-C here is honoured once the write through the endpoint is verified, not before
  let tFenced = 0
  let tPromoted = 0
  checkInterrupted() // the last safe point before the fence
  await shielded(`the ${mode} to ${candidate}`, async () => {
    await fenceOldPrimary(site, state, old, `${mode} to ${candidate}`, mode, audit)
    tFenced = Date.now()
    if (mode === 'switchover') await catchUp(site, old, candidate, audit)
    await promote(site, candidate, audit)
    tPromoted = Date.now()
    await reassignRoles(site, state, old, candidate, facts.candidateSite)
    await switchTraffic(site, old, candidate, mode, audit)
  })
  const tDone = Date.now()

  const detectStart = facts.detection.firstFailureAt ?? t0
  const timings = {
    detectSeconds: (t0 - detectStart) / 1000,
    fenceSeconds: (tFenced - t0) / 1000,
    promoteSeconds: (tPromoted - tFenced) / 1000,
    switchSeconds: (tDone - tPromoted) / 1000,
    rtoSeconds: (tDone - detectStart) / 1000,
  }
  const report: LocalFailoverReport = {
    mode,
    decision: decision.reason,
    from: old,
    to: candidate,
    lossWindowSeconds: facts.lossWindowSeconds,
    lossBasis: facts.lossBasis,
    timings,
    plan: planLines({ ...state, primary: old }, candidate, mode, site.layout.ports.endpoint),
    fence:
      mode === 'switchover'
        ? 'stopped cleanly (fast), the endpoint routed away first'
        : 'the endpoint routed away first, then stopped if it ran, marked fenced',
    next:
      mode === 'switchover'
        ? `${old} rejoins as a standby of ${candidate}`
        : `rejoin ${old} as a standby: npx zx runbooks/failback.ts`,
    notified: [],
  }
  report.notified = await notifyFailover(site.policy, 'local', outcomeOf(report), hooks, audit)
  return report
}

/** Fence: the endpoint first (no new session can reach the old primary), then the node, marked fenced. */
async function fenceOldPrimary(
  site: LocalSitePort,
  state: SiteState,
  old: NodeName,
  why: string,
  mode: Mode,
  audit: AuditLog,
): Promise<void> {
  await audit.step('fence endpoint', () => site.routeEndpoint(undefined), { old })
  if (mode === 'switchover')
    await audit.step(`stop ${old} cleanly`, () => site.pg.stop(site.layout.node(old).data, 'fast'))
  else await audit.step(`stop ${old} (if it runs)`, () => site.roles.stopHard(old))
  site.roles.markFenced(state, old, `${why} at ${new Date().toISOString()}`)
}

/**
 * A planned switchover to the warm standby: it replays only archived segments, and the old
 * primary's shutdown checkpoint sits in a segment nobody archives. Let it stream from the old
 * primary first (over a slot of its own), so the clean stop hands it every record, as it does a
 * hot standby.
 */
async function streamBeforeSwitchover(site: LocalSitePort, old: NodeName, candidate: NodeName, audit: AuditLog) {
  const slotSql = `SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`
  await audit.step(`let ${candidate} stream from ${old} for the switchover`, async () => {
    await query(site.conn(old, 'postgres'), slotSql, [candidate])
    site.writeNodeSettings(candidate, 'hot', { primary: old })
    await site.pg.reload(site.layout.node(candidate).data)
    await site.waitStreaming(old, [candidate], 600_000)
  })
}

/** Switchover: the candidate replays up to the old primary's last record (its shutdown checkpoint). */
async function catchUp(site: LocalSitePort, old: NodeName, candidate: NodeName, audit: AuditLog): Promise<void> {
  const checkpoint = await shutdownCheckpoint(site, site.layout.node(old).data)
  const replayed = async () => {
    const sql = `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok`
    return (await query<{ ok: boolean }>(site.conn(candidate, 'postgres'), sql, [checkpoint]))[0]!.ok
  }
  await audit.step(`wait for ${candidate} to replay ${checkpoint}`, () =>
    waitFor(`${candidate} to replay ${checkpoint}`, replayed, 600_000, 20),
  )
}

/** Shutdown checkpoint LSN of a cleanly stopped cluster. */
async function shutdownCheckpoint(site: LocalSitePort, dataDir: string): Promise<string> {
  const control = await controlData(site.run, dataDir)
  if (control.state !== 'shut down') throw new Error(`${dataDir} is "${control.state}", not cleanly shut down`)
  return control.checkpoint
}

/** Promote the candidate; as a new primary it waits for no standby until one rejoins. */
async function promote(site: LocalSitePort, candidate: NodeName, audit: AuditLog): Promise<void> {
  const paths = site.layout.node(candidate)
  site.writeNodeSettings(candidate, 'primary', { primary: candidate, syncStandbys: [] })
  await audit.step(`promote ${candidate}`, async () => {
    try {
      await query(site.conn(candidate, 'postgres'), 'SELECT pg_promote(true, 60)')
    } catch (e) {
      // the session can end under the promotion; what counts is whether the node now takes writes
      const leftRecovery = async () => {
        const p = await probe(candidate, site.conn(candidate, 'postgres'))
        return p.reachable && p.inRecovery === false
      }
      const up = await waitFor(`${candidate} to leave recovery`, leftRecovery, 30_000, 100).catch(() => false)
      const why = (e as Error).message
      if (!up)
        throw new Error(
          `promoting ${candidate} failed (${why}) and it is not accepting writes; its server log ends:\n${logTail(paths.log, 12) || '(no server log)'}`,
          { cause: e },
        )
      log.warn(`the promote call's session ended (${why}), but ${candidate} left recovery and accepts writes`)
    }
    await site.pg.reload(paths.data)
  })
}

/**
 * The site has a new primary. A hot standby of the old primary is ahead of a promoted warm one
 * and cannot follow it: it is fenced too.
 */
async function reassignRoles(
  site: LocalSitePort,
  state: SiteState,
  old: NodeName,
  candidate: NodeName,
  candidateSite: 'hot' | 'warm',
): Promise<void> {
  await site.roles.recordPrimary(state, candidate)
  for (const n of NODE_NAMES) {
    if (candidateSite !== 'warm' || state.roles[n] !== 'hot') continue
    await site.roles.stopHard(n)
    site.roles.markFenced(state, n, `hot standby of ${old}, ahead of the promoted warm site`)
  }
  site.saveState(state)
  site.writeBackrestConf(state)
}

/** Route the endpoint to the new primary and prove it with a write acknowledged by it. */
async function switchTraffic(
  site: LocalSitePort,
  old: NodeName,
  candidate: NodeName,
  mode: Mode,
  audit: AuditLog,
): Promise<void> {
  await audit.step(`route endpoint to ${candidate}`, () => site.routeEndpoint(candidate))
  const landsOn = { name: candidate, conn: site.conn(candidate) }
  await audit.step('verify a write through the endpoint', () =>
    awaitWritable(site.endpointConn(), {
      note: `${mode} ${old} -> ${candidate}`,
      landsOn,
      withinMs: 60_000,
      everyMs: 20,
    }),
  )
}
