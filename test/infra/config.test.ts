/** Stack configuration: a missing or malformed value fails with a clear message, before anything is created. */
import { describe, expect, it } from 'vitest'
import { stackConfig } from '../../config/project-files.ts'
import { readDrConfig, readProdConfig, scaleQuantity } from '../../infra/config.ts'
import { InputError } from '../../core/errors.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const prod = () => structuredClone(stackConfig(ROOT, 'prod')) as Record<string, any>

function problems(mutate: (c: Record<string, any>) => void): string[] {
  const c = prod()
  mutate(c)
  try {
    readProdConfig(c)
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    return (e as InputError).problems.map((p) => p.key)
  }
  throw new Error('accepted')
}

describe('stack configuration', () => {
  it('accepts the shipped Pulumi.prod.yaml and Pulumi.dr.yaml', () => {
    expect(readProdConfig(prod()).hot.region).toBe('us-west-2')
    expect(readDrConfig(stackConfig(ROOT, 'dr')).warm.kubeContext).toBe('gke_labdojo-dr_europe-west1_warm')
  })
  it.each([
    ['a missing site', (c: any) => delete c['labdojo-dr:sites'].hot, 'Pulumi.prod.yaml: labdojo-dr:sites.hot'],
    [
      'a malformed region',
      (c: any) => (c['labdojo-dr:sites'].primary.region = 'virginia'),
      'Pulumi.prod.yaml: labdojo-dr:sites.primary.region',
    ],
    [
      "the hot site in the primary's region",
      (c: any) => (c['labdojo-dr:sites'].hot.region = 'us-east-1'),
      'Pulumi.prod.yaml: labdojo-dr:sites.hot.region',
    ],
    ['a bad zone id', (c: any) => (c['labdojo-dr:dns'].zoneId = 'nope'), 'Pulumi.prod.yaml: labdojo-dr:dns.zoneId'],
    [
      'a moving image tag',
      (c: any) => (c['labdojo-dr:runbookImage'] = 'ghcr.io/labdojo/runbooks:latest'),
      'Pulumi.prod.yaml: labdojo-dr:runbookImage',
    ],
    [
      'Glacier inside the PITR window',
      (c: any) => (c['labdojo-dr:backup'].glacierAfterDays = 1),
      'Pulumi.prod.yaml: labdojo-dr:backup.glacierAfterDays',
    ],
    [
      'an alert recipient not in the plan',
      (c: any) => (c['labdojo-dr:alertEmails'].Janitor = 'j@labdojo.com'),
      'Pulumi.prod.yaml: labdojo-dr:alertEmails.Janitor',
    ],
  ])('rejects %s, naming the key', (_, mutate, key) => {
    expect(problems(mutate)).toContain(key)
  })
  it('rejects a moving image tag in the dr stack too (the rules prod and dr share are one set)', () => {
    const dr = structuredClone(stackConfig(ROOT, 'dr')) as Record<string, any>
    dr['labdojo-dr:runbookImage'] = 'ghcr.io/labdojo/runbooks:latest'
    let keys: string[] = []
    try {
      readDrConfig(dr)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      keys = (e as InputError).problems.map((p) => p.key)
    }
    expect(keys).toEqual(['Pulumi.dr.yaml: labdojo-dr:runbookImage'])
  })
  it("scales capacity by the policy's percentage", () => {
    expect([scaleQuantity('4', 75), scaleQuantity('16Gi', 75), scaleQuantity('500m', 50)]).toEqual([
      '3000m',
      '12Gi',
      '250m',
    ])
  })
})
