// Write .github/workflows/dr-drill.yml from the DR policy (a test keeps the file in sync).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LOCAL_STACK } from '../core/project-config.ts'
import { loadPolicy } from '../config/project-files.ts'
import { DRILL_WORKFLOW, renderDrillWorkflow } from '../runbooks/lib/output/drill-workflow.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
writeFileSync(join(root, DRILL_WORKFLOW), renderDrillWorkflow(loadPolicy(root, LOCAL_STACK)))
process.stdout.write(`wrote ${DRILL_WORKFLOW}\n`)
