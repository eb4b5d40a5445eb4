/**
 * Cloud stacks run their backups and restores inside the PostgreSQL operator (PGO) on
 * Kubernetes; this project's runbooks drive the local site directly and, for cloud stacks,
 * the traffic switch (Route53 / Cloud DNS). A runbook that only the local site supports says
 * so with exit 2 and the operator command to use instead.
 */
import { InputError } from '../../../core/errors.ts'
import type { StackContext } from './stack.ts'
import type { LocalSite } from '../sites/local/site.ts'

const PGO_HINT: Record<string, string> = {
  'backup.ts': 'kubectl annotate postgrescluster labdojo -n labdojo --overwrite postgres-operator.crunchydata.com/pgbackrest-backup="$(date +%s)"',
  'restore.ts': 'set spec.backups.pgbackrest.restore (repoName, options: --type=time --target=...) on the PostgresCluster and annotate postgres-operator.crunchydata.com/pgbackrest-restore',
  'catalog.ts': 'kubectl exec -n labdojo deploy/labdojo-repo-host -- pgbackrest info --output=json',
}

export function requireLocal(ctx: StackContext, runbook: string): LocalSite {
  if (ctx.site) return ctx.site
  throw new InputError(`${runbook} on stack ${ctx.stack}`, [
    { key: '--stack', value: ctx.stack, message: `${runbook} drives pgBackRest directly on the local site; on ${ctx.stack} pgBackRest runs inside the operator`, fix: PGO_HINT[runbook] ?? 'use the operator' },
  ])
}
