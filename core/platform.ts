/**
 * The LabDojo platform's database, as the guide describes it: the tables every restore must hold
 * before it counts (the local site generates them; a cloud stack's application creates them).
 */
export const LABDOJO_TABLES = [
  'users',
  'auth_credentials',
  'courses',
  'course_content',
  'user_progress',
  'preferences',
  'analytics_events',
] as const

/** Personal data without a foreign key to users: erasure deletes these rows too (the FK-referencing tables are found in the catalog). */
export const PERSONAL_DATA_COLUMNS: readonly { table: string; column: string }[] = [
  { table: 'analytics_events', column: 'user_id' },
]
