/**
 * The runbooks image the export CronJobs run. No container engine runs here (the docker client
 * has no daemon, and no image registry is reachable), so the Dockerfile is checked against what
 * the CronJobs and the runbooks need, not built.
 */
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { exportCronJob } from '../../infra/components/pgo-manifests.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const dockerfile = readFileSync(`${ROOT}/Dockerfile`, 'utf8')
const lines = dockerfile.split('\n').filter((l) => l && !l.startsWith('#'))
const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8'))

describe('Dockerfile (the runbooks image)', () => {
  it('starts from the Node the project declares and installs the tools the runbooks call', () => {
    // the base is a build argument (the build test stands in for it); its default is the official image
    expect(lines.find((l) => l.startsWith('FROM '))).toBe('FROM ${BASE}')
    const base = lines.find((l) => l.startsWith('ARG BASE='))!
    const major = Number(/=node:(\d+)-bookworm-slim$/.exec(base)![1])
    expect(major).toBeGreaterThanOrEqual(Number(/\d+/.exec(pkg.engines.node)![0]))
    // lz4: WAL read from a cloud vault without a cluster is unpacked by it (pgBackRest repo-get does not)
    for (const tool of ['postgresql-client-15', 'pgbackrest', 'restic', 'git', 'lz4', 'ca-certificates'])
      expect(dockerfile).toMatch(new RegExp(`apt-get install[^\\n]*\\b${tool}\\b`))
  })

  it('installs the locked runtime dependencies (tsx and zx among them) and copies what the runbooks import', () => {
    expect(dockerfile).toMatch(/COPY package\.json package-lock\.json \.npmrc/)
    expect(dockerfile).toMatch(/npm ci --omit=dev/)
    expect(Object.keys(pkg.dependencies)).toEqual(expect.arrayContaining(['tsx', 'zx', 'pg']))
    for (const dir of ['core', 'runbooks']) expect(dockerfile).toMatch(new RegExp(`COPY ${dir} \\./${dir}`))
    expect(dockerfile).toMatch(/COPY Pulumi\.yaml/) // the DR policy the runbooks read
  })

  it('runs as the uid the CronJobs demand (runAsNonRoot, runAsUser)', () => {
    const job = exportCronJob(
      { runbookImage: 'img', stack: 'prod' } as never,
      'logical-export',
      '0 1 * * *',
      'logical',
      'ns',
      'sa',
    )
    const sc = (job as any).spec.jobTemplate.spec.template.spec.securityContext // plain values here, not Outputs
    expect(sc.runAsNonRoot).toBe(true)
    expect(lines.find((l) => l.startsWith('USER '))).toBe(`USER ${sc.runAsUser}`)
    expect(dockerfile).toMatch(new RegExp(`useradd[^\\n]*--uid ${sc.runAsUser}\\b`))
  })
})
