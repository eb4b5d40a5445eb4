/**
 * failover.ts --watch on a cloud stack: probe the primary and the endpoint every probe interval;
 * after the policy's consecutive failures, ask the distributed observer (the PrimaryUp alarm
 * every region's exporter feeds) and fail over only when it agrees (core/cloud-watch.ts). A
 * partition between this watcher and a live primary is held, said, and watched on.
 */
import { cloudWatchDecision, type ObserverVerdict } from '../../../../core/cloud-watch.ts'
import { endpointConn, nodeConn, type Inventory } from '../../../../core/inventory.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import { alarmState } from '../../adapters/cloudwatch.ts'
import { run, type Runner } from '../../adapters/exec.ts'
import { loadWebhooks, type Webhook } from '../../adapters/notify.ts'
import { InputError, Refusal, firstLine, inputError } from '../../../../core/errors.ts'
import { alertNow } from '../alert-now.ts'
import { sleep } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { cloudFailover, cloudNodes, type CloudFailoverOptions } from './cloud-failover.ts'
import type { FailoverReport } from './outcome.ts'
import { detectFailures, probePair } from './detect.ts'

export async function observerVerdict(inv: Inventory, env = process.env): Promise<ObserverVerdict> {
  const o = inv.endpoint.observer
  if (!o) return { state: 'unknown', detail: 'the inventory names no observer (endpoint.observer)' }
  try {
    const state = await alarmState(o.region, o.alarmName, env)
    const detail = `alarm ${o.alarmName} in ${o.region}: ${state ?? 'not found'}`
    return { state: state === 'ALARM' ? 'down' : state === 'OK' ? 'up' : 'unknown', detail }
  } catch (e) {
    return { state: 'unknown', detail: firstLine(e) }
  }
}

/**
 * A cloud failover from failover.ts: by hand, or --watch. The webhooks are read and validated
 * before anything changes ($LABDOJO_WEBHOOKS_FILE, 0600, or $LABDOJO_WEBHOOK_URL); a failure that
 * is not a refusal pages the first person of the plan at once. Undefined: watched, nothing failed.
 */
export async function cloudFailoverRun(
  inv: Inventory,
  policy: DrPolicy,
  o: CloudFailoverOptions,
  audit: AuditLog,
  confirmFn: (q: string) => Promise<void>,
  w: { watch: boolean; maxSeconds?: number },
): Promise<FailoverReport | undefined> {
  // fence before promote: a stack that names no primary (dr) cannot shut it down, nor tell it is dead
  if (!o.dryRun && !inv.nodes.some((n) => n.role === 'primary'))
    throw inputError(
      '--fence-inventory',
      undefined,
      `stack ${inv.stack} names no primary: the failover could neither tell that it is down nor shut it down before promoting ${o.to}`,
      "pass the inventory of the stack that holds it (prod's): --fence-inventory FILE; if its region is gone, the failover says so and DNS is the fence",
    )
  const hooks = loadWebhooks(policy, process.env.LABDOJO_WEBHOOKS_FILE)
  if (w.watch)
    log.info(
      `watching the primary of ${inv.stack} every ${policy.detection.probeInterval * 1000} ms; after ${policy.detection.failureThreshold} consecutive failures the distributed observer decides`,
    )
  const go = w.watch
    ? cloudWatchLoop(inv, policy, o, run, audit, hooks, w.maxSeconds)
    : cloudFailover(inv, policy, o, run, audit, confirmFn, hooks)
  return go.catch(async (error) => {
    if (!(error instanceof InputError || error instanceof Refusal))
      await alertNow(policy, hooks, `failover of stack ${inv.stack} to ${o.to}`, (error as Error).message)
    throw error
  })
}

export async function cloudWatchLoop(
  inv: Inventory,
  policy: DrPolicy,
  o: CloudFailoverOptions,
  run: Runner,
  audit: AuditLog,
  hooks: Webhook[],
  maxSeconds?: number,
): Promise<FailoverReport | undefined> {
  const until = maxSeconds ? Date.now() + maxSeconds * 1000 : Infinity
  const { primary } = cloudNodes(inv, o.to)
  const d = policy.detection
  while (Date.now() < until) {
    const seen = await detectFailures(
      d,
      () =>
        probePair(primary && { name: primary.name, ...nodeConn(primary) }, endpointConn(inv), d.probeTimeout * 1000),
      { watch: true, until },
    )
    if (seen.consecutiveFailures < seen.threshold) return undefined
    const observer = await observerVerdict(inv)
    const decision = cloudWatchDecision({ ...seen, observer })
    audit.record(`watch decision: ${decision.act ? 'fail over' : 'hold'}`, 'ok', { observer, reason: decision.reason })
    log.info(decision.reason)
    if (decision.act) return cloudFailover(inv, policy, o, run, audit, async () => {}, hooks)
    await sleep(d.probeInterval * 1000)
  }
  return undefined
}
