/**
 * Pulumi's configuration, resolved without the Pulumi CLI: project-level values from
 * Pulumi.yaml (`config.<key>.value` or a plain scalar), replaced per key by the stack's
 * Pulumi.<stack>.yaml (`labdojo-dr:<key>`). Pure: the files are read by
 * config/project-files.ts, which hands their documents here.
 */
import { InputError } from './errors.ts'
import { type DrPolicy } from './policy.ts'
import { parsePolicy } from './policy-parse.ts'

export const PROJECT = 'labdojo-dr'
export const LOCAL_STACK = 'local'

export type ConfigMap = Record<string, unknown>

/** The stacks whose files are among `files` (Pulumi.<stack>.yaml), after the embedded local one. */
export function stackNames(files: string[]): string[] {
  const names = files.map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1]).filter((s): s is string => !!s)
  return [LOCAL_STACK, ...names.sort()]
}

/** The fully-qualified config (keys like `labdojo-dr:policy`, `aws:region`): the project's, replaced per key by the stack's document. */
export function mergeStackConfig(project: Record<string, unknown>, stack?: Record<string, unknown>): ConfigMap {
  const out: ConfigMap = {}
  const projectConfig = (project.config ?? {}) as Record<string, unknown>
  for (const [key, v] of Object.entries(projectConfig)) {
    const full = key.includes(':') ? key : `${PROJECT}:${key}`
    const isSchema = typeof v === 'object' && v !== null && !Array.isArray(v)
    out[full] = isSchema ? ((v as Record<string, unknown>).value ?? (v as Record<string, unknown>).default) : v
  }
  if (stack) Object.assign(out, (stack.config ?? {}) as ConfigMap)
  return out
}

/** What a stack's policy was read from, as an error names it. */
export function policySource(stack: string): string {
  return stack === LOCAL_STACK ? 'Pulumi.yaml' : `Pulumi.yaml + Pulumi.${stack}.yaml`
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
