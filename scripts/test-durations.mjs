// Print test/durations.json from a vitest JSON report (seconds per file, longest first).
// Usage: node scripts/test-durations.mjs .ci/results.json > test/harness/durations.json
import { readFileSync } from 'node:fs'

const report = JSON.parse(readFileSync(process.argv[2] ?? '.ci/results.json', 'utf8'))
const rows = report.testResults.map((t) => [
  t.name.replace(/^.*?\/(test\/)/, '$1'),
  Math.round((t.endTime - t.startTime) / 1000),
])
rows.sort((a, b) => b[1] - a[1])
console.log(JSON.stringify(Object.fromEntries(rows), null, 1))
