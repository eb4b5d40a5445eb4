/**
 * Longest file first (the order that best fills three workers when one file runs for a quarter of
 * the suite). vitest's own order on a fresh clone is by file size, which started the 108-line
 * failover fault suite (~10 min) near the end and left it running alone. The seconds are what a
 * CI run measured; refresh them with `node scripts/test-durations.mjs .ci/results.json`
 * (2026-12-08's were read from the run's log: its report was gone). A file
 * not in the table runs first, as vitest runs unknown files first.
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

const SECONDS: Record<string, number> = JSON.parse(readFileSync(new URL('./durations.json', import.meta.url), 'utf8'))

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = (f: TestSpecification) => SECONDS[relative(this.ctx.config.root, f.moduleId)] ?? Infinity
    return [...files].sort((a, b) => {
      const [x, y] = [seconds(a), seconds(b)]
      return x === y ? 0 : y > x ? 1 : -1
    })
  }
}
