import { describe, expect, it } from 'vitest'
import { compareVersions, newerWriterProblem } from '../../core/pgbackrest-version.ts'
import { parseInfo } from '../../runbooks/lib/adapters/pgbackrest.ts'

describe('which pgBackRest may read a repo', () => {
  it('compares versions numerically, not as text', () => {
    expect(compareVersions('2.54.1', '2.45')).toBeGreaterThan(0)
    expect(compareVersions('2.45', '2.54.1')).toBeLessThan(0)
    expect(compareVersions('2.9', '2.10')).toBeLessThan(0)
    expect(compareVersions('2.45', '2.45.0')).toBe(0)
  })

  it('refuses backups a newer pgBackRest wrote, naming both versions and the fix; not older or equal ones', () => {
    const backups = [
      { label: '20261201-010000F', writtenBy: '2.45' },
      { label: '20261202-010000F_20261202-020000I', writtenBy: '2.54.1' },
    ]
    expect(newerWriterProblem(2, '2.45', backups)).toBe(
      "repo2 holds backups written by pgBackRest 2.54.1 (20261202-010000F_20261202-020000I); this machine's pgBackRest is 2.45, which cannot be trusted to read them (2.46 changed the block-incremental format): run the runbooks from their image (it carries PGO's pgBackRest), or install pgBackRest 2.54.1 or later here",
    )
    expect(newerWriterProblem(2, '2.54.1', backups)).toBeUndefined()
    expect(newerWriterProblem(2, '2.45', [{ label: 'x' }])).toBeUndefined()
  })

  it("reads who wrote each backup from pgbackrest info's JSON (backrest.version)", () => {
    const json = JSON.stringify([
      {
        name: 'db',
        status: { code: 0, message: 'ok' },
        db: [{ 'system-id': 1 }],
        backup: [
          {
            label: '20261202-010000F',
            type: 'full',
            backrest: { format: 5, version: '2.54.1' },
            database: { 'repo-key': 1 },
            timestamp: { start: 1, stop: 2 },
            lsn: { start: '0/1', stop: '0/2' },
            archive: { start: 'a', stop: 'b' },
            info: { size: 1, delta: 1 },
          },
        ],
      },
    ])
    expect(parseInfo(json)[0]!.backups[0]!.writtenBy).toBe('2.54.1')
  })
})
