/**
 * Failover, switchover and rejoin on the local site. The procedure gathers facts, asks the
 * pure decision (core/failover.ts), then: fence (endpoint first, then stop the old primary),
 * promote, switch traffic, verify a write through the endpoint, notify, audit.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { decideFailover, lossWindow, type Decision, type DetectionResult, type FailoverFacts, type NodeSnapshot } from '../../../../core/failover.ts'
import { inputError, Refusal } from '../../../../core/errors.ts'
import type { Detection } from '../../../../core/policy.ts'
import { formatDuration } from '../../../../core/duration.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { nodeConf } from '../../sites/local/config-files.ts'
import { NODE_NAMES, STANZA, type NodeName } from '../../sites/local/layout.ts'
import type { LocalSite, SiteState } from '../../sites/local/site.ts'
import { followedTimeline, logTail, pgBin, postmasterPid, probe, query, type Conn, type NodeStatus } from '../../adapters/postgres.ts'
import { giveToSiteUser, sleep, waitFor, walkFiles } from '../../adapters/process.ts'
import { loadWebhooks, notify, type NotifyResult } from '../../adapters/notify.ts'

export interface FailoverOptions {
  to: 'hot' | 'warm'
  dryRun: boolean
  acceptDataLoss: boolean
  switchover: boolean
  /** decided by the --watch loop, not a person: manual sites are refused */
  automatic: boolean
  /** detection already done by the watch loop */
  detection?: DetectionResult
}

export interface FailoverReport {
  decision: Decision
  from: NodeName
  to: NodeName
  mode: 'failover' | 'switchover' | 'none'
  lossWindowSeconds: number
  lossBasis: string
  timings: { detectSeconds: number; fenceSeconds: number; promoteSeconds: number; switchSeconds: number; rtoSeconds: number }
  notified: NotifyResult[]
  plan: string[]
}

export const snap = (s: NodeStatus): NodeSnapshot => ({
  name: s.name, health: s.reachable ? 'up' : 'down', inRecovery: s.inRecovery, systemId: s.systemId, timeline: s.timeline, lsn: s.lsn, streaming: s.streaming, error: s.error,
})

export interface ProbeRound {
  ok: boolean
  direct: NodeStatus
  endpoint: NodeStatus
}

/** One probe round: the primary directly and through the endpoint, in parallel, short timeouts. */
export async function probePair(direct: (Conn & { name: string }) | undefined, endpoint: Conn, timeoutMs: number): Promise<ProbeRound> {
  const [d, e] = await Promise.all([
    direct ? probe(direct.name, direct, timeoutMs) : Promise.resolve<NodeStatus>({ name: 'primary', port: 0, reachable: false, error: 'no primary in this stack' }),
    probe('endpoint', endpoint, timeoutMs),
  ])
  // failure only when neither path reaches a writable primary: one flaky path is not a dead primary
  const ok = (d.reachable && d.inRecovery === false) || (e.reachable && e.inRecovery === false)
  return { ok, direct: d, endpoint: e }
}

export function probeRound(site: LocalSite, timeoutMs: number): Promise<ProbeRound> {
  const primary = site.state().primary
  return probePair({ name: primary, ...site.conn(primary, 'postgres') }, site.endpointConn('postgres'), timeoutMs)
}

/** Probe until the policy's consecutive failures, or until one probe answers. */
export async function detectFailures(d: Detection, round: () => Promise<ProbeRound>): Promise<DetectionResult> {
  let failures = 0
  let firstFailureAt: number | null = null
  while (failures < d.failureThreshold) {
    const t = Date.now()
    const r = await round()
    if (r.ok) return { consecutiveFailures: 0, threshold: d.failureThreshold, firstFailureAt: null, lastSeenAt: Date.now() }
    failures++
    firstFailureAt ??= t
    log.info(`probe ${failures}/${d.failureThreshold}: primary unreachable (${r.direct.error ?? 'in recovery'}; endpoint: ${r.endpoint.error ?? 'not a primary'})`)
    if (failures < d.failureThreshold) await sleep(Math.max(0, d.probeInterval * 1000 - (Date.now() - t)))
  }
  return { consecutiveFailures: failures, threshold: d.failureThreshold, firstFailureAt, lastSeenAt: null }
}

export function detect(site: LocalSite): Promise<DetectionResult> {
  return detectFailures(site.policy.detection, () => probeRound(site, site.policy.detection.probeTimeout * 1000))
}

function candidateOf(s: SiteState, to: 'hot' | 'warm'): NodeName {
  const n = NODE_NAMES.find((x) => s.roles[x] === to)
  if (!n) throw inputError('--to', to, `there is no ${to} standby in the site (roles: ${NODE_NAMES.map((x) => `${x}=${s.roles[x]}`).join(', ')})`, to === 'hot' ? 'try --to warm, or run failback.ts to rejoin a fenced node first' : 'try --to hot')
  return n
}

/** The newest moment the archive is known to hold (mtime of the newest WAL in the posix repo). */
function newestArchivedAt(site: LocalSite): number | null {
  const root = join(site.l.pgbackrest.repo1, 'archive', STANZA)
  if (!existsSync(root)) return null
  const wal = walkFiles(root).filter((f) => /^[0-9A-F]{24}-/.test(basename(f)))
  return wal.length ? Math.max(...wal.map((f) => statSync(f).mtimeMs)) : null
}

/** Let an archive-fed candidate replay everything the archive holds (replay LSN stable). */
async function drainArchive(site: LocalSite, n: NodeName): Promise<void> {
  let last = ''
  let stableSince = Date.now()
  await waitFor(`${n} to replay all archived WAL`, async () => {
    const [r] = await query<{ lsn: string }>(site.conn(n, 'postgres'), 'SELECT pg_last_wal_replay_lsn()::text AS lsn')
    if (r!.lsn !== last) {
      last = r!.lsn
      stableSince = Date.now()
    }
    return Date.now() - stableSince > 6000 // longer than wal_retrieve_retry_interval (5 s)
  }, 3_600_000, 250)
}

export async function gatherFacts(site: LocalSite, o: FailoverOptions): Promise<{ facts: FailoverFacts; candidate: NodeName }> {
  const s = site.state()
  const candidate = candidateOf(s, o.to)
  const detection = o.detection ?? (o.switchover ? { consecutiveFailures: 0, threshold: site.policy.detection.failureThreshold, firstFailureAt: null, lastSeenAt: Date.now() } : await detect(site))
  const [p, c] = await Promise.all([probe(s.primary, site.conn(s.primary, 'postgres')), probe(candidate, site.conn(candidate, 'postgres'))])
  const primaryDown = detection.consecutiveFailures >= detection.threshold
  if (primaryDown && c.reachable && !o.dryRun && o.to === 'warm') {
    log.info(`replaying all archived WAL into ${candidate} before measuring its data-loss window`)
    await drainArchive(site, candidate)
  }
  let c2 = o.to === 'warm' && primaryDown && c.reachable ? await probe(candidate, site.conn(candidate, 'postgres')) : c
  if (o.to === 'warm' && c2.reachable && existsSync(site.l.node(candidate).log)) {
    // an archive-fed standby's timeline is the one it follows, not the newest history it fetched
    const followed = followedTimeline(readFileSync(site.l.node(candidate).log, 'utf8'))
    if (followed !== undefined) c2 = { ...c2, timeline: followed }
  }
  const primaryConf = existsSync(site.l.node(s.primary).conf) ? readFileSync(site.l.node(s.primary).conf, 'utf8') : ''
  const synchronous = site.policy.sites.hot.replication === 'synchronous' && new RegExp(`synchronous_standby_names = '.*\\b${candidate}\\b`).test(primaryConf)
  const lastReplay = c2.lastReplayTs ? Date.parse(c2.lastReplayTs) : null
  const archived = newestArchivedAt(site)
  const lastSafeAt = [lastReplay, archived].filter((x): x is number => x !== null).reduce<number | null>((a, b) => Math.max(a ?? 0, b), null)
  const loss = o.switchover ? { seconds: 0, basis: 'planned switchover' } : lossWindow(snap(c2), { synchronous, lastSafeAt, primaryLastSeenAt: detection.lastSeenAt ?? detection.firstFailureAt, now: Date.now() })
  const stanzaSystemId = await site.br.info().then((i) => i.systemId).catch(() => undefined)
  return {
    candidate,
    facts: {
      primary: snap(p),
      candidate: snap(c2),
      candidateSite: o.to,
      candidateFailover: site.policy.sites[o.to].failover === 'automatic' ? 'automatic' : 'manual',
      detection,
      stanzaSystemId,
      lastKnownTimeline: s.timeline,
      lossWindowSeconds: loss.seconds,
      lossBasis: loss.basis,
      tierRpoSeconds: site.policy.tiers[1].rpo,
      flags: { acceptDataLoss: o.acceptDataLoss, switchover: o.switchover, automatic: o.automatic },
    },
  }
}

export function planLines(s: SiteState, candidate: NodeName, mode: 'failover' | 'switchover', endpointPort: number): string[] {
  return [
    mode === 'switchover' ? `1. fence: route the endpoint 127.0.0.1:${endpointPort} nowhere, then stop ${s.primary} cleanly (fast)` : `1. fence: route the endpoint 127.0.0.1:${endpointPort} nowhere, stop ${s.primary} if it still runs, mark it fenced`,
    mode === 'switchover' ? `2. wait until ${candidate} has replayed ${s.primary}'s shutdown checkpoint` : `2. (no catch-up possible from a dead primary)`,
    `3. promote ${candidate}`,
    `4. switch traffic: endpoint -> ${candidate}; verify a write through it`,
    `5. notify along the communication plan; ${mode === 'switchover' ? `rejoin ${s.primary} as a standby` : `later: failback.ts rejoins ${s.primary}`}`,
  ]
}

async function stopHard(site: LocalSite, n: NodeName): Promise<void> {
  const d = site.l.node(n).data
  if (!postmasterPid(d)) return
  await site.pg.stop(d, 'immediate').catch(async () => {
    const pid = postmasterPid(d)
    if (pid) process.kill(pid, 'SIGKILL') // STONITH, by pid
  })
}

/** Shutdown checkpoint LSN of a cleanly stopped cluster. */
async function shutdownCheckpoint(site: LocalSite, dataDir: string): Promise<string> {
  const r = await site.run(pgBin('pg_controldata'), ['-D', dataDir], { asSiteUser: true, env: { LC_ALL: 'C' } })
  const state = /Database cluster state:\s+(.+)/.exec(r.stdout)?.[1]
  if (state !== 'shut down') throw new Error(`${dataDir} is "${state}", not cleanly shut down`)
  return /Latest checkpoint location:\s+(\S+)/.exec(r.stdout)![1]!
}

export async function execute(site: LocalSite, facts: FailoverFacts, candidate: NodeName, decision: Decision & { action: 'promote' }, audit: AuditLog): Promise<FailoverReport> {
  const s = site.state()
  const old = s.primary
  const t0 = Date.now()
  const detectStart = facts.detection.firstFailureAt ?? t0
  const mode = decision.mode

  // 1. fence: the endpoint first (no new session can reach the old primary), then the node itself
  await audit.step('fence endpoint', () => site.routeEndpoint(undefined), { old })
  if (mode === 'switchover') await audit.step(`stop ${old} cleanly`, () => site.pg.stop(site.l.node(old).data, 'fast'))
  else await audit.step(`stop ${old} (if it runs)`, () => stopHard(site, old))
  s.roles[old] = 'fenced'
  s.fencedReason = { ...s.fencedReason, [old]: `${mode} to ${candidate} at ${new Date().toISOString()}` }
  site.writeNodeFiles(s, old) // a fenced node's settings: no archiving, should anyone start it by hand
  site.saveState(s)
  const tFenced = Date.now()

  // 2. switchover: the candidate replays up to the old primary's last record
  if (mode === 'switchover') {
    const ckpt = await shutdownCheckpoint(site, site.l.node(old).data)
    await audit.step(`wait for ${candidate} to replay ${ckpt}`, () =>
      waitFor(`${candidate} to replay ${ckpt}`, async () => (await query<{ ok: boolean }>(site.conn(candidate, 'postgres'), `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok`, [ckpt]))[0]!.ok, 600_000, 20))
  }

  // 3. promote; the new primary waits for no standby until one rejoins
  const nd = site.l.node(candidate)
  writeFileSync(nd.conf, nodeConf(site.l, { name: candidate, port: site.port(candidate), dataDir: nd.data, syncStandbys: [] }))
  giveToSiteUser(nd.conf)
  await audit.step(`promote ${candidate}`, async () => {
    try {
      await query(site.conn(candidate, 'postgres'), 'SELECT pg_promote(true, 60)')
    } catch (e) {
      // the session can end under the promotion; what counts is whether the node now takes writes
      const up = await waitFor(`${candidate} to leave recovery`, async () => {
        const p = await probe(candidate, site.conn(candidate, 'postgres'))
        return p.reachable && p.inRecovery === false
      }, 30_000, 100).catch(() => false)
      if (!up) {
        throw new Error(`promoting ${candidate} failed (${(e as Error).message}) and it is not accepting writes; its server log ends:\n${logTail(nd.log, 12) || '(no server log)'}`)
      }
      log.warn(`the promote call's session ended (${(e as Error).message}), but ${candidate} left recovery and accepts writes`)
    }
    await site.pg.reload(nd.data)
  })
  const tPromoted = Date.now()

  // the site now has a new primary; an old hot standby ahead of a promoted warm one cannot follow it
  s.primary = candidate
  s.roles[candidate] = 'primary'
  for (const n of NODE_NAMES)
    if (facts.candidateSite === 'warm' && s.roles[n] === 'hot') {
      await stopHard(site, n)
      s.roles[n] = 'fenced'
      site.writeNodeFiles(s, n)
      s.fencedReason = { ...s.fencedReason, [n]: `hot standby of ${old}, ahead of the promoted warm site` }
    }
  const tl = await probe(candidate, site.conn(candidate, 'postgres'))
  s.timeline = tl.timeline
  site.saveState(s)
  site.writeBackrestConf(s)

  // 4. switch traffic and prove it with a write
  await audit.step(`route endpoint to ${candidate}`, () => site.routeEndpoint(candidate))
  const verified = await audit.step('verify a write through the endpoint', () =>
    waitFor('a write through the endpoint', async () => {
      const [r] = await query<{ port: number }>(site.endpointConn(), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('failover-verify', $1, $2) RETURNING inet_server_port() AS port`, [Date.now(), `${mode} ${old} -> ${candidate}`], 5000)
      return r!.port === site.port(candidate) && r
    }, 60_000, 20))
  void verified
  const tDone = Date.now()

  const report: FailoverReport = {
    decision, from: old, to: candidate, mode,
    lossWindowSeconds: facts.lossWindowSeconds, lossBasis: facts.lossBasis,
    timings: {
      detectSeconds: (t0 - detectStart) / 1000,
      fenceSeconds: (tFenced - t0) / 1000,
      promoteSeconds: (tPromoted - tFenced) / 1000,
      switchSeconds: (tDone - tPromoted) / 1000,
      rtoSeconds: (tDone - detectStart) / 1000,
    },
    notified: [],
    plan: planLines({ ...s, primary: old }, candidate, mode, site.l.ports.endpoint),
  }

  // 5. notify along the communication plan
  const hooks = loadWebhooks(site.policy, process.env.LABDOJO_WEBHOOKS_FILE ?? join(site.l.secrets.dir, 'webhooks.json'))
  const text = `[labdojo-dr local] ${mode} ${old} -> ${candidate}: traffic restored, measured RTO ${formatDuration(report.timings.rtoSeconds)}; data-loss window ${formatDuration(facts.lossWindowSeconds)} (${facts.lossBasis}). ${old} is fenced; next: failback.ts. Incident commander: ${site.policy.team.find((t) => t.role === 'incident_commander')?.contact ?? 'n/a'}`
  report.notified = await notify(hooks, text)
  audit.record('notify', report.notified.every((n) => n.ok) ? 'ok' : 'failed', { results: report.notified })
  return report
}

/** The whole failover: facts, decision, and (unless dry-run or refused) execution. */
export async function failover(site: LocalSite, o: FailoverOptions, audit: AuditLog, confirmFn: (q: string) => Promise<void>): Promise<FailoverReport> {
  const { facts, candidate } = await gatherFacts(site, o)
  const decision = decideFailover(facts)
  const s = site.state()
  audit.record('decide', decision.action === 'promote' ? 'ok' : decision.action === 'wait' ? 'skipped' : 'refused', { reason: decision.reason, facts: { ...facts, flags: facts.flags } })
  const empty = { detectSeconds: 0, fenceSeconds: 0, promoteSeconds: 0, switchSeconds: 0, rtoSeconds: 0 }
  if (decision.action !== 'promote') throw new Refusal(decision.reason)
  if (!o.dryRun) log.info(decision.reason)
  const plan = planLines(s, candidate, decision.mode, site.l.ports.endpoint)
  if (o.dryRun) {
    audit.record('failover', 'dry-run', { plan })
    return { decision, from: s.primary, to: candidate, mode: decision.mode, lossWindowSeconds: facts.lossWindowSeconds, lossBasis: facts.lossBasis, timings: empty, notified: [], plan }
  }
  log.info(plan.map((l) => `  ${l}`).join('\n'))
  await confirmFn(`${decision.mode} from ${s.primary} to ${candidate}: the old primary will be fenced.`)
  return execute(site, facts, candidate, decision, audit)
}

/** --watch: probe continuously; act by itself, with the same guards, after N consecutive failures. */
export async function watch(site: LocalSite, o: FailoverOptions, audit: AuditLog, maxSeconds: number): Promise<FailoverReport | undefined> {
  const d = site.policy.detection
  let failures = 0
  let firstFailureAt: number | null = null
  let lastSeenAt: number | null = null
  const until = maxSeconds > 0 ? Date.now() + maxSeconds * 1000 : Infinity
  audit.record('watch', 'start', { threshold: d.failureThreshold, interval: d.probeInterval })
  while (Date.now() < until) {
    const t = Date.now()
    const r = await probeRound(site, d.probeTimeout * 1000)
    if (r.ok) {
      if (failures) log.info(`primary answered again after ${failures} failed probe(s)`)
      failures = 0
      firstFailureAt = null
      lastSeenAt = Date.now()
    } else {
      failures++
      firstFailureAt ??= t
      log.info(`probe failed ${failures}/${d.failureThreshold}: ${r.direct.error ?? 'primary in recovery'}`)
      if (failures >= d.failureThreshold) {
        const detection = { consecutiveFailures: failures, threshold: d.failureThreshold, firstFailureAt, lastSeenAt }
        return failover(site, { ...o, automatic: true, detection }, audit, async () => {})
      }
    }
    await sleep(Math.max(0, d.probeInterval * 1000 - (Date.now() - t)))
  }
  audit.record('watch', 'ok', { result: 'primary stayed healthy' })
  return undefined
}
