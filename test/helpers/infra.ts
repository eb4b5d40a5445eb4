/** Run a real Pulumi program under the mock runtime and hand the tests what it recorded. */
import type { Recorded } from '../../infra/mocks.ts'

export interface Fake {
  type: string
  name: string
  urn: string
  props: Record<string, any>
  /** propertyDependencies by URN (what preview knows when values are unknown) */
  deps?: Record<string, string[]>
}

export const asPolicyResources = (rs: Recorded[]): Fake[] =>
  rs.map((r) => ({
    type: r.type,
    name: r.name,
    urn: `urn:pulumi:test::labdojo-dr::${r.type}::${r.name}`,
    props: { ...r.inputs, ...r.state },
  }))

export async function runProgram(stack: 'prod' | 'dr') {
  const { installMocks, PROD_OUTPUTS_FOR_DR, valueOf } = await import('../../infra/mocks.ts')
  const recorded = installMocks({ stack, stackOutputs: stack === 'dr' ? PROD_OUTPUTS_FOR_DR : {} })
  const program = await import('../../infra/index.ts')
  const inventory = await valueOf(program.inventory)
  await new Promise((r) => setTimeout(r, 100)) // let the last registrations land
  const of = (type: string) => recorded.filter((r) => r.type === type)
  return { recorded, inventory, of, program }
}

/** Run every policy of the pack over recorded resources; returns the violations. */
export async function violations(resources: Fake[]): Promise<string[]> {
  const { RESOURCE_POLICIES, STACK_POLICIES } = await import('../../infra/policy/rules.ts')
  const out: string[] = []
  for (const p of RESOURCE_POLICIES)
    for (const r of resources)
      await (p.validateResource as any)({ ...r, opts: {}, getConfig: () => ({}) }, (m: string) =>
        out.push(`${p.name}: ${m}`),
      )
  for (const p of STACK_POLICIES)
    await (p.validateStack as any)(
      {
        resources: resources.map((r) => ({
          ...r,
          dependencies: [],
          propertyDependencies: Object.fromEntries(
            Object.entries(r.deps ?? {}).map(([k, urns]) => [k, resources.filter((x) => urns.includes(x.urn))]),
          ),
          opts: {},
        })),
        getConfig: () => ({}),
      },
      (m: string) => out.push(`${p.name}: ${m}`),
    )
  return out
}
