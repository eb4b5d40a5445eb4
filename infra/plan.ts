/**
 * `npm run plan -- --stack prod|dr`: run the program offline under the mock runtime, print the
 * resource tree and a topology diagram (Mermaid, and SVG rendered in headless Chromium when it
 * is installed), and write the exported inventory to out/<stack>-inventory.json, which the
 * runbooks load with `--inventory FILE`.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { installMocks, PROD_OUTPUTS_FOR_DR, valueOf } from './mocks.ts'
import { topologyMermaid, resourceTree } from './topology.ts'
import { renderMermaidSvg } from './render-svg.ts'
import { formatProblem, InputError } from '../core/errors.ts'
import { loadPolicy } from '../config/project-files.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({ options: { stack: { type: 'string' }, out: { type: 'string' } }, strict: true })
const stack = values.stack
if (stack !== 'prod' && stack !== 'dr') {
  process.stderr.write(
    `error: --stack ${JSON.stringify(stack ?? null)}: must be prod or dr; fix: npm run plan -- --stack prod\n`,
  )
  process.exit(2)
}
try {
  const recorded = installMocks({ stack, root: ROOT, stackOutputs: stack === 'dr' ? PROD_OUTPUTS_FOR_DR : {} })
  const program = await import('./index.ts')
  const inventory = await valueOf(program.inventory)
  await new Promise((r) => setTimeout(r, 50))
  const out = values.out ?? join(ROOT, 'out')
  mkdirSync(out, { recursive: true })
  const invFile = join(out, `${stack}-inventory.json`)
  writeFileSync(invFile, JSON.stringify({ inventory }, null, 2) + '\n')
  const mermaid = topologyMermaid(stack, inventory, loadPolicy(ROOT, stack))
  writeFileSync(join(out, `${stack}-topology.mmd`), mermaid)
  const rendered = await renderMermaidSvg(mermaid)
  const svgFile = join(out, `${stack}-topology.svg`)
  if (rendered.svg !== null) writeFileSync(svgFile, rendered.svg)
  const svgNote = rendered.svg === null ? `not rendered: ${rendered.why}` : svgFile
  process.stdout.write(
    `stack ${stack}: ${recorded.length} resources (offline plan under Pulumi's mock runtime)\n\n${resourceTree(recorded)}\n\ntopology (Mermaid; also ${join(out, `${stack}-topology.mmd`)}):\n\n${mermaid}\n` +
      `topology SVG: ${svgNote}\ninventory: ${invFile}\n`,
  )
} catch (e) {
  if (e instanceof InputError) {
    process.stderr.write(`error: ${e.what}\n${e.problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}\n`)
    process.exit(2)
  }
  throw e
}
