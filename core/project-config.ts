/**
 * Pulumi's configuration, resolved without the Pulumi CLI: project-level values from
 * Pulumi.yaml (`config.<key>.value` or a plain scalar), replaced per key by the stack's
 * Pulumi.<stack>.yaml (`labdojo-dr:<key>`). Used by the runbooks and by the offline plan.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { InputError, inputError } from './errors.ts'
import { type DrPolicy } from './policy.ts'
import { parsePolicy } from './policy-parse.ts'
import { firstLine } from './errors.ts'

export const PROJECT = 'labdojo-dr'
export const LOCAL_STACK = 'local'

export type ConfigMap = Record<string, unknown>

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

export function stacksIn(root: string): string[] {
  const names = readdirSync(root)
    .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
    .filter((s): s is string => !!s)
  return [LOCAL_STACK, ...names.sort()]
}

/** The fully-qualified config of a stack (keys like `labdojo-dr:policy`, `aws:region`). */
export function stackConfig(root: string, stack: string): ConfigMap {
  const project = readYaml(join(root, 'Pulumi.yaml'))
  const out: ConfigMap = {}
  const projectConfig = (project.config ?? {}) as Record<string, unknown>
  for (const [key, v] of Object.entries(projectConfig)) {
    const full = key.includes(':') ? key : `${PROJECT}:${key}`
    const isSchema = typeof v === 'object' && v !== null && !Array.isArray(v)
    out[full] = isSchema ? ((v as Record<string, unknown>).value ?? (v as Record<string, unknown>).default) : v
  }
  if (stack === LOCAL_STACK) return out
  const file = ['yaml', 'yml'].map((e) => join(root, `Pulumi.${stack}.${e}`)).find(existsSync)
  if (!file)
    throw inputError(
      '--stack',
      stack,
      `unknown stack; valid stacks: ${stacksIn(root).join(', ')}`,
      `pass one of them, or create Pulumi.${stack}.yaml`,
    )
  const doc = readYaml(file)
  Object.assign(out, (doc.config ?? {}) as ConfigMap)
  return out
}

export function deepMerge<T>(base: T, over: unknown): T {
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return (over === undefined ? base : over) as T
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over as T
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v)
  return out as T
}

/** The policy as a stack sees it: project policy deep-merged with the stack's overrides. */
export function resolvePolicy(config: ConfigMap, source: string): DrPolicy {
  const base = config[`${PROJECT}:policy`]
  if (base === undefined)
    throw new InputError('DR policy', [
      {
        key: `${PROJECT}:policy`,
        message: 'missing from Pulumi.yaml',
        fix: 'restore config.policy in Pulumi.yaml from git',
      },
    ])
  return parsePolicy(deepMerge(base, config[`${PROJECT}:policyOverrides`]), source)
}

export function loadPolicy(root: string, stack: string): DrPolicy {
  return resolvePolicy(
    stackConfig(root, stack),
    stack === LOCAL_STACK ? 'Pulumi.yaml' : `Pulumi.yaml + Pulumi.${stack}.yaml`,
  )
}
