/**
 * The Pulumi program: `pulumi up --stack prod|dr`. It reads the DR policy and the stack's
 * configuration (validated before anything is created) and exports the inventory the runbooks
 * consume (`--inventory FILE` or `pulumi stack output --json`).
 */
import * as pulumi from '@pulumi/pulumi'
import { PROJECT, type ConfigMap } from '../core/project-config.ts'
import { readDrConfig, readProdConfig } from './config.ts'
import { prodStack } from './sites/prod.ts'
import { drStack } from './sites/dr.ts'

/** Pulumi's config for this stack as the plain map core/ reads (objects arrive as JSON). */
export function pulumiConfigMap(): ConfigMap {
  const out: ConfigMap = {}
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    // objects arrive as JSON text; a plain value stays the string it is (JSON.parse would turn a
    // numeric id such as a 21-digit subject id into a rounded number)
    if (!/^\s*[[{]/.test(v)) {
      out[k] = v
      continue
    }
    try {
      out[k] = JSON.parse(v)
    } catch {
      out[k] = v
    }
  }
  return out
}

export function program(stack = pulumi.getStack()) {
  const cfg = pulumiConfigMap()
  if (stack === 'prod') return prodStack(readProdConfig(cfg))
  if (stack === 'dr') return drStack(readDrConfig(cfg))
  throw new Error(`stack "${stack}" has no program; stacks: prod, dr (the local site is runbooks/local.ts)`)
}

const outputs = program()
export const inventory = outputs.inventory
export const replicaBucket = 'replicaBucket' in outputs ? outputs.replicaBucket : undefined
export const replicaRegion = 'replicaRegion' in outputs ? outputs.replicaRegion : undefined
export const transferReaderRoleArn = 'transferReaderRoleArn' in outputs ? outputs.transferReaderRoleArn : undefined
export const repoCipherPass = 'repoCipherPass' in outputs ? outputs.repoCipherPass : undefined
/** prod: the users' passwords the dr stack's warm cluster takes (its StackReference requires this output) */
export const userPasswords = 'userPasswords' in outputs ? outputs.userPasswords : undefined
export const alertTopicArn = 'alertTopicArn' in outputs ? outputs.alertTopicArn : undefined
export const warmBucket = 'warmBucket' in outputs ? outputs.warmBucket : undefined
export const coldBucket = 'coldBucket' in outputs ? outputs.coldBucket : undefined
/** dr: its Storage Transfer agent's subject id, which prod's labdojo-dr:transferAgentSubjectId must name (the bootstrap order) */
export const transferAgentSubjectId = 'transferAgentSubjectId' in outputs ? outputs.transferAgentSubjectId : undefined
void PROJECT
