/** Synchronous replication without a standby: strict waits, a fallback degrades after its time and comes back. */
import { describe, expect, it } from 'vitest'
import { decideSync, type SyncFacts } from '../../core/sync-guard.ts'

const facts = (o: Partial<SyncFacts>): SyncFacts => ({
  wanted: true,
  configured: ['node2'],
  inSync: ['node2'],
  streaming: ['node2'],
  withoutSyncSeconds: null,
  ...o,
})

describe('decideSync', () => {
  it('does nothing while a standby is in sync, or when the policy is asynchronous', () => {
    expect(decideSync(10, facts({})).action).toBe('none')
    expect(decideSync(10, facts({ wanted: false, configured: [] })).action).toBe('none')
  })

  it('strict (never): commits keep waiting, however long the standby is gone', () => {
    const d = decideSync('never', facts({ inSync: [], streaming: [], withoutSyncSeconds: 3600 }))
    expect(d).toMatchObject({ action: 'none' })
    expect(d.reason).toMatch(/strict/)
  })

  it('a fallback waits its time, then degrades', () => {
    expect(decideSync(10, facts({ inSync: [], streaming: [], withoutSyncSeconds: 9 })).action).toBe('wait')
    expect(decideSync(10, facts({ inSync: [], streaming: [], withoutSyncSeconds: 10 })).action).toBe('degrade')
  })

  it('degraded: back to synchronous as soon as a hot standby streams, not before', () => {
    expect(decideSync(10, facts({ configured: [], inSync: [], streaming: [] })).action).toBe('none')
    expect(decideSync(10, facts({ configured: [], inSync: [], streaming: ['node2'] }))).toMatchObject({
      action: 'restore',
      standbys: ['node2'],
    })
  })
})
