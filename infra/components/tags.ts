/** Tags every resource carries, so policies and cost reports can find them. */
export function drTags(site: string, purpose: string, extra: Record<string, string> = {}): Record<string, string> {
  return { project: 'labdojo-dr', site, purpose, 'managed-by': 'pulumi', ...extra }
}

/** GCP labels: lower-case keys and values. */
export function drLabels(site: string, purpose: string): Record<string, string> {
  return { project: 'labdojo-dr', site, purpose, 'managed-by': 'pulumi' }
}

/** Quarterly key rotation, from the guide ("rotation: quarterly"). */
export const ROTATION_DAYS = 90
