/**
 * The project's Pulumi files, read without the Pulumi CLI: Pulumi.yaml and Pulumi.<stack>.yaml,
 * parsed and handed to core/project-config.ts, which merges them. Used by the runbooks, the
 * scheduler, the workflow generator and the offline plan's tests.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { firstLine, inputError } from '../core/errors.ts'
import type { DrPolicy } from '../core/policy.ts'
import {
  LOCAL_STACK,
  mergeStackConfig,
  policySource,
  resolvePolicy,
  stackNames,
  type ConfigMap,
} from '../core/project-config.ts'

function readYaml(file: string): Record<string, unknown> {
  let doc: unknown
  try {
    doc = parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw inputError(file, undefined, `is not valid YAML: ${firstLine(e)}`, 'fix the YAML syntax')
  }
  if (typeof doc !== 'object' || doc === null)
    throw inputError(file, doc, 'is not a YAML mapping', 'restore the file from git')
  return doc as Record<string, unknown>
}

/** The stacks this project declares: the embedded local one, then one per Pulumi.<stack>.yaml. */
export function stacksIn(root: string): string[] {
  return stackNames(readdirSync(root))
}

/** The fully-qualified config of a stack (keys like `labdojo-dr:policy`, `aws:region`). */
export function stackConfig(root: string, stack: string): ConfigMap {
  const project = readYaml(join(root, 'Pulumi.yaml'))
  if (stack === LOCAL_STACK) return mergeStackConfig(project)
  const file = ['yaml', 'yml'].map((e) => join(root, `Pulumi.${stack}.${e}`)).find(existsSync)
  if (!file)
    throw inputError(
      '--stack',
      stack,
      `unknown stack; valid stacks: ${stacksIn(root).join(', ')}`,
      `pass one of them, or create Pulumi.${stack}.yaml`,
    )
  return mergeStackConfig(project, readYaml(file))
}

/** The DR policy of a stack, as its files declare it. */
export function loadPolicy(root: string, stack: string): DrPolicy {
  return resolvePolicy(stackConfig(root, stack), policySource(stack))
}
