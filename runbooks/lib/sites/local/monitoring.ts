/**
 * Monitoring of the local site (`local.ts up --monitoring`): the DR exporter (runbooks/monitor.ts),
 * Prometheus scraping it and evaluating the rules generated from the policy, and Alertmanager
 * routing along the communication plan to the site's webhooks. Each runs by pid on the site's
 * ports, with its configuration generated into the state directory; the webhook URLs are
 * secrets and sit in 0600 files beside the site's other secrets, read by Alertmanager
 * (api_url_file), never written into a configuration. `down` stops all three.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { alertmanagerConfig, EXPORTER_JOB, ruleGroups, type ReceiverTarget } from '../../../../core/alerts.ts'
import { which } from '../../adapters/exec.ts'
import { portFree } from '../../adapters/net.ts'
import { pidAlive, readPid, startDetached, stopByPidFile, waitFor } from '../../adapters/process.ts'
import type { SiteHandle } from './handle.ts'
import type { FiringAlert } from '../local-port.ts'

export type { FiringAlert }
import { siteWebhooks } from './secrets.ts'

const MONITOR = fileURLToPath(new URL('../../../monitor.ts', import.meta.url))
const TSX = createRequire(import.meta.url).resolve('tsx')
const PROMETHEUS = 'prometheus'
const ALERTMANAGER = 'prometheus-alertmanager'
export const MONITORING_APT = 'apt-get install -y prometheus prometheus-alertmanager'

/** The three configuration files, from the policy and the site's webhooks. */
export function writeMonitoringConfig(site: SiteHandle): void {
  const m = site.layout.monitoring
  const p = site.policy.monitoring
  mkdirSync(m.dir, { recursive: true, mode: 0o750 })
  const hookDir = join(site.layout.secrets.dir, 'alert-hooks')
  rmSync(hookDir, { recursive: true, force: true }) // a webhook taken out of the plan leaves no URL behind
  mkdirSync(hookDir, { recursive: true, mode: 0o700 })
  const targets: ReceiverTarget[] = siteWebhooks(site).map((h, i) => {
    const urlFile = join(hookDir, `${i}.url`)
    writeFileSync(urlFile, h.url, { mode: 0o600 })
    return { recipient: h.recipient, urlFile }
  })
  writeFileSync(m.prometheus.rules, stringify(ruleGroups(site.policy)))
  writeFileSync(
    m.prometheus.config,
    stringify({
      global: { scrape_interval: `${p.scrapeInterval}s`, evaluation_interval: `${p.evaluationInterval}s` },
      rule_files: [m.prometheus.rules],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${site.layout.ports.alertmanager}`] }] }] },
      scrape_configs: [
        {
          job_name: EXPORTER_JOB,
          scrape_interval: `${p.scrapeInterval}s`,
          static_configs: [
            { targets: [`127.0.0.1:${site.layout.ports.exporter}`], labels: { site: site.layout.siteId } },
          ],
        },
      ],
    }),
  )
  writeFileSync(m.alertmanager.config, stringify(alertmanagerConfig(site.policy, targets)), { mode: 0o640 })
}

const httpOk = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok

interface Daemon {
  what: string
  cmd: string
  /** what its command line shows (to stop it by pid, never another process) */
  cmdlineHas: string
  args: string[]
  paths: { pid: string; log: string }
  port: number
  ready: string
}

function daemons(site: SiteHandle): Daemon[] {
  const { layout } = site
  const m = layout.monitoring
  const at = (port: number, path: string) => `http://127.0.0.1:${port}${path}`
  return [
    {
      what: 'the DR exporter',
      cmd: process.execPath,
      cmdlineHas: 'monitor.ts',
      args: ['--import', TSX, MONITOR, '--port', String(layout.ports.exporter)],
      paths: m.exporter,
      port: layout.ports.exporter,
      ready: at(layout.ports.exporter, '/metrics'),
    },
    {
      what: 'Alertmanager',
      cmd: ALERTMANAGER,
      cmdlineHas: ALERTMANAGER,
      args: [
        `--config.file=${m.alertmanager.config}`,
        `--storage.path=${m.alertmanager.data}`,
        `--web.listen-address=127.0.0.1:${layout.ports.alertmanager}`,
        '--cluster.listen-address=',
      ],
      paths: m.alertmanager,
      port: layout.ports.alertmanager,
      ready: at(layout.ports.alertmanager, '/-/ready'),
    },
    {
      what: 'Prometheus',
      cmd: PROMETHEUS,
      cmdlineHas: PROMETHEUS,
      args: [
        `--config.file=${m.prometheus.config}`,
        `--storage.tsdb.path=${m.prometheus.data}`,
        `--web.listen-address=127.0.0.1:${layout.ports.prometheus}`,
        '--web.enable-lifecycle',
      ],
      paths: m.prometheus,
      port: layout.ports.prometheus,
      ready: at(layout.ports.prometheus, '/-/ready'),
    },
  ]
}

async function startDaemon(site: SiteHandle, d: Daemon): Promise<string | undefined> {
  if (pidAlive(readPid(d.paths.pid), d.cmdlineHas)) return undefined
  if (!(await portFree(d.port))) throw new Error(`${d.what}: 127.0.0.1:${d.port} is in use by another process`)
  const env = { LABDOJO_STATE_DIR: site.layout.stateDir, LABDOJO_BASE_PORT: String(site.layout.basePort) }
  startDetached(d.cmd, d.args, { log: d.paths.log, pidFile: d.paths.pid, env })
  await waitFor(`${d.what} on 127.0.0.1:${d.port}`, httpOk(d.ready), 60_000, 200)
  return `started ${d.what} on 127.0.0.1:${d.port} (log ${d.paths.log})`
}

/** Start whichever of the three is not running (a running one re-reads its configuration); the changes made. */
export async function ensureMonitoring(site: SiteHandle): Promise<string[]> {
  const found = await Promise.all([PROMETHEUS, ALERTMANAGER].map((b) => which(b)))
  const missing = [PROMETHEUS, ALERTMANAGER].filter((_, i) => !found[i])
  if (missing.length) throw new Error(`monitoring needs ${missing.join(', ')}: ${MONITORING_APT}`)
  writeMonitoringConfig(site)
  const changes: string[] = []
  for (const d of daemons(site)) {
    const started = await startDaemon(site, d)
    if (started) changes.push(started)
    else if (d.cmd !== process.execPath)
      await fetch(d.ready.replace('/-/ready', '/-/reload'), { method: 'POST' }).catch(() => {})
  }
  return changes
}

export function monitoringRunning(site: SiteHandle): boolean {
  return pidAlive(readPid(site.layout.monitoring.prometheus.pid), PROMETHEUS)
}

/** Stop the three by pid; what was stopped. */
export async function stopMonitoring(site: SiteHandle): Promise<string[]> {
  const m = site.layout.monitoring
  if (!existsSync(m.dir)) return []
  const stopped: string[] = []
  for (const d of daemons(site).reverse())
    if (await stopByPidFile(d.paths.pid, d.cmdlineHas)) stopped.push(`stopped ${d.what}`)
  return stopped
}

/** The alerts Alertmanager holds as active (firing, not silenced or inhibited). */
export async function firingAlerts(site: SiteHandle): Promise<FiringAlert[]> {
  const url = `http://127.0.0.1:${site.layout.ports.alertmanager}/api/v2/alerts?active=true&silenced=false&inhibited=false`
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) })
  const alerts = (await r.json()) as {
    labels: Record<string, string>
    annotations: Record<string, string>
    startsAt: string
  }[]
  return alerts
    .map((a) => ({
      name: a.labels.alertname ?? '?',
      severity: a.labels.severity ?? '?',
      escalation: a.labels.escalation ?? '0',
      summary: a.annotations.summary ?? '',
      since: a.startsAt,
      labels: a.labels,
    }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.escalation.localeCompare(b.escalation))
}
