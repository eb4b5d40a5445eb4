import { describe, expect, it } from 'vitest'
import { ARCHIVE_FED_SLACK_BYTES, nodeHealthy, type NodeFacts } from '../../core/health.ts'
import { loadPolicy } from '../../config/project-files.ts'

const policy = loadPolicy(new URL('../../', import.meta.url).pathname, 'local')
const up = (over: Partial<NodeFacts> = {}): NodeFacts => ({
  reachable: true,
  inRecovery: true,
  streaming: false,
  lagBytes: 0,
  replayAgeSeconds: null,
  ...over,
})
const down: NodeFacts = { reachable: false, streaming: false, replayAgeSeconds: null }

describe('node health by role', () => {
  it.each([
    ['a primary that takes writes', 'primary', up({ inRecovery: false }), true],
    ['a primary still in recovery', 'primary', up(), false],
    ['a primary that does not answer', 'primary', down, false],
    ['a hot standby the primary sees streaming', 'hot', up({ streaming: true }), true],
    ['a hot standby that answers but does not stream', 'hot', up({ streaming: false }), false],
    ['a hot standby that was promoted (not in recovery)', 'hot', up({ inRecovery: false, streaming: true }), false],
    ['a warm standby within the archive slack', 'warm', up({ lagBytes: ARCHIVE_FED_SLACK_BYTES - 1 }), true],
    [
      'a warm standby beyond the slack but replaying within its RPO',
      'warm',
      up({ lagBytes: ARCHIVE_FED_SLACK_BYTES * 10, replayAgeSeconds: policy.sites.warm.rpo - 1 }),
      true,
    ],
    [
      'a warm standby beyond the slack and older than its RPO',
      'warm',
      up({ lagBytes: ARCHIVE_FED_SLACK_BYTES * 10, replayAgeSeconds: policy.sites.warm.rpo + 1 }),
      false,
    ],
    ['a warm standby that was promoted', 'warm', up({ inRecovery: false }), false],
    ['a fenced node that is down', 'fenced', down, true],
    ['a fenced node started by hand as a standby', 'fenced', up(), true],
    ['a fenced node that came up writable (split brain)', 'fenced', up({ inRecovery: false }), false],
  ] as const)('%s', (_what, role, facts, healthy) => {
    expect(nodeHealthy(role, facts, policy)).toBe(healthy)
  })
})
