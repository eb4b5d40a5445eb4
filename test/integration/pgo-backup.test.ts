/**
 * backup.ts --type full|diff|incr on a cloud stack (issue 14, deliverable 4): PGO is asked for a
 * manual backup the documented way (spec.backups.pgbackrest.manual + the pgbackrest-backup
 * annotation) and its job's result is awaited. PGO's API is simulated by a `kubectl` on PATH
 * that keeps what it was told and answers with the status PGO would write; the patch is
 * validated against PGO 5.7.4's CRD.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runbook } from '../helpers/site.ts'
import { cloudInventory } from '../helpers/cloud-inventory.ts'
import { minimalPostgresCluster, postgresClusterValidator } from '../helpers/k8s-schemas.ts'

let dir = ''
let env: Record<string, string> = {}
const inventory = (kubeContext?: string) =>
  cloudInventory({
    nodes: [{ name: 'primary', site: 'primary', role: 'primary', port: 1, kubeContext }],
    repos: [{ index: 1, type: 's3', path: '/pgbackrest', encrypted: true, site: 'primary' }],
    endpointPort: 1,
  })

beforeAll(() => {
  dir = mkdtempSync('/tmp/labdojo-pgo-backup-')
  // PGO's API: a patch is kept, an annotation's id is kept, a get answers with the job PGO ran for that id
  writeFileSync(
    join(dir, 'kubectl'),
    `#!/bin/bash
echo "$@" >> "${dir}/calls"
case "$*" in
  *" patch "*) printf '%s' "\${@: -1}" > "${dir}/patch.json" ;;
  *" annotate "*) a="\${@: -1}"; printf '%s' "\${a#*=}" > "${dir}/id" ;;
  *" get "*)
    if [ -e "${dir}/fail" ]; then r='"failed":2'; else r='"succeeded":1'; fi
    printf '{"metadata":{"name":"labdojo","namespace":"labdojo"},"status":{"pgbackrest":{"manualBackup":{"id":"%s","finished":true,%s}}}}' "$(cat "${dir}/id")" "$r" ;;
esac
`,
  )
  chmodSync(join(dir, 'kubectl'), 0o755)
  writeFileSync(join(dir, 'prod.json'), JSON.stringify(inventory('ctx-primary')))
  writeFileSync(join(dir, 'no-context.json'), JSON.stringify(inventory()))
  env = { PATH: `${dir}:${process.env.PATH}`, LABDOJO_AUDIT_LOG: join(dir, 'audit.log') }
})
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('backup.ts --type full --stack prod (asked of PGO)', () => {
  it("describes the backup, annotates the cluster with a new id, waits for PGO's job and reports it", async () => {
    const r = await runbook(
      'backup',
      ['--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--type', 'full', '--json'],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    const rec = JSON.parse(r.stdout)
    expect(rec).toMatchObject({ type: 'full', repo: 'repo1', job: { finished: true, succeeded: 1 } })
    expect(rec.id).toMatch(/^labdojo-full-\d{8}T\d{6}$/)
    const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')
    expect(calls.slice(0, 2)).toEqual([
      `--context ctx-primary -n labdojo patch postgrescluster labdojo --type merge -p {"spec":{"backups":{"pgbackrest":{"manual":{"repoName":"repo1","options":["--type=full"]}}}}}`,
      `--context ctx-primary -n labdojo annotate postgrescluster labdojo --overwrite postgres-operator.crunchydata.com/pgbackrest-backup=${rec.id}`,
    ])
    expect(readFileSync(join(dir, 'audit.log'), 'utf8')).toContain(`wait for PGO's backup job ${rec.id}`)
  })

  it("the patch is one PGO's CRD accepts", () => {
    const patch = JSON.parse(readFileSync(join(dir, 'patch.json'), 'utf8'))
    const validate = postgresClusterValidator()
    const cluster = minimalPostgresCluster(patch.spec.backups.pgbackrest)
    expect(validate(cluster), JSON.stringify(validate.errors)).toBe(true)
  })

  it('a job PGO reports failed fails the run (exit 1), naming the job and where its log is', async () => {
    writeFileSync(join(dir, 'fail'), '')
    const r = await runbook('backup', ['--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--type', 'incr'], env)
    rmSync(join(dir, 'fail'))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /PGO's backup job labdojo-incr-\S+ failed \(2 failed pod\(s\)\).*kubectl --context ctx-primary/,
    )
  })

  it("an inventory without the primary's kube context is refused before anything is asked (exit 2)", async () => {
    rmSync(join(dir, 'calls'), { force: true })
    const r = await runbook(
      'backup',
      ['--stack', 'prod', '--inventory', join(dir, 'no-context.json'), '--type', 'full'],
      env,
    )
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/kube context/)
    expect(existsSync(join(dir, 'calls'))).toBe(false)
  })
})
