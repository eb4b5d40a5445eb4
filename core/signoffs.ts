/**
 * The guide's checks that only people can do ("Testing and Validation", "Review Schedule"):
 * each with its cadence. A sign-off is a ledger record; what is due is computed from the last
 * one, never assumed.
 */
export const SIGNOFF_ITEMS = {
  documentation: { every: 'monthly', what: 'documentation updates and procedure accuracy' },
  training: { every: 'quarterly', what: 'team training exercise' },
  contacts: { every: 'quarterly', what: 'contact information review' },
  'security-assessment': { every: 'annual', what: 'third-party security assessment' },
  'compliance-audit': { every: 'annual', what: 'compliance audit' },
  'plan-review': { every: 'annual', what: 'full plan review and updates' },
} as const

export type SignoffItem = keyof typeof SIGNOFF_ITEMS
export const SIGNOFF_NAMES = Object.keys(SIGNOFF_ITEMS) as SignoffItem[]

const MONTHS = { monthly: 1, quarterly: 3, annual: 12 } as const

export interface Signoff {
  item: string
  by: string
  at: string
}

export interface SignoffDue {
  item: SignoffItem
  what: string
  every: string
  last: Signoff | null
  /** ISO date the next sign-off is due; null when it has never been signed (due now) */
  due: string | null
  overdue: boolean
}

/** For each item: its last sign-off and when the next one is due (never signed: overdue). */
export function signoffsDue(signoffs: Signoff[], now: Date): SignoffDue[] {
  return SIGNOFF_NAMES.map((item) => {
    const spec = SIGNOFF_ITEMS[item]
    const last =
      signoffs
        .filter((s) => s.item === item)
        .sort((a, b) => a.at.localeCompare(b.at))
        .at(-1) ?? null
    if (!last) return { item, what: spec.what, every: spec.every, last, due: null, overdue: true }
    const due = new Date(last.at)
    due.setUTCMonth(due.getUTCMonth() + MONTHS[spec.every])
    return { item, what: spec.what, every: spec.every, last, due: due.toISOString(), overdue: due < now }
  })
}
