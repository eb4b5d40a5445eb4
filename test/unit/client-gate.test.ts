/** The in-place restore's client gate: the pg_hba rules it writes and how it recognises them as loaded. */
import { describe, expect, it } from 'vitest'
import { GATE_MARKER, gateInFile, gateRules, type HbaRow } from '../../core/client-gate.ts'

describe('gateRules', () => {
  it('lets in the runbook user only, over TLS when its session is TLS, and refuses everyone else', () => {
    expect(gateRules('postgres', true)).toEqual([
      GATE_MARKER,
      'hostssl all "postgres" all md5',
      'host all all all reject',
    ])
    expect(gateRules('dr_admin', false)[1]).toBe('host all "dr_admin" all md5')
  })

  it.each(['', 'a b', 'x"y', 'all\nhost all all all trust'])('refuses a user it cannot name safely: %j', (u) => {
    expect(() => gateRules(u, true)).toThrow(/cannot be named in a pg_hba rule/)
  })
})

describe('gateInFile', () => {
  const row = (type: string, db: string, user: string, method: string): HbaRow => ({
    type,
    database: [db],
    user_name: [user],
    auth_method: method,
  })
  const mandatory = [row('local', 'all', 'postgres', 'peer'), row('host', 'all', '_crunchyrepl', 'reject')]

  it('sees the marker rule, and only it: a user rule that rejects everyone is not the gate', () => {
    expect(gateInFile([...mandatory, row('host', 'labdojo_dr_gate', 'labdojo_dr_gate', 'reject')])).toBe(true)
    expect(gateInFile([...mandatory, row('host', 'all', 'all', 'reject')])).toBe(false)
    expect(gateInFile(mandatory)).toBe(false)
  })
})
