/**
 * .github/workflows/dr-drill.yml, generated from the policy (core/schedule.ts): one schedule per
 * drill level the sites' testing frequencies call for, the level picked from the cron that
 * fired (or chosen by hand), the report and the evidence ledger uploaded whatever the outcome,
 * and the job failed by the drill's exit code on any missed objective. Pure: policy in, YAML out.
 */
import type { DrPolicy } from '../../../core/policy.ts'
import { DRILL_LEVELS } from '../../../core/drill.ts'

export const DRILL_WORKFLOW = '.github/workflows/dr-drill.yml'

export function renderDrillWorkflow(p: DrPolicy): string {
  const levels = DRILL_LEVELS
  const crons = p.schedules.drills
  const cases = levels.map((l) => `            "${crons[l]}") level=${l} ;;`).join('\n')
  return `# GENERATED from the DR policy (Pulumi.yaml) by \`npm run gen:workflow\`: do not edit by hand.
# Each drill level at policy.schedules.drills; what a level runs follows the sites' testing frequencies.
name: dr-drill
on:
  schedule:
${levels.map((l) => `    - cron: "${crons[l]}" # ${l}`).join('\n')}
  workflow_dispatch:
    inputs:
      level:
        description: drill level
        type: choice
        options: [${levels.join(', ')}]
        default: ${levels[0]}
permissions:
  contents: read
concurrency:
  group: dr-drill
  cancel-in-progress: false
jobs:
  drill:
    runs-on: ubuntu-latest
    container: debian:12
    timeout-minutes: 90
    steps:
      - run: apt-get update -qq && apt-get install -y -qq --no-install-recommends git ca-certificates
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
      - name: pick the level
        id: level
        shell: bash
        run: |
          level="\${{ inputs.level }}"
          case "\${{ github.event.schedule }}" in
${cases}
          esac
          echo "level=\${level:-${levels[0]}}" >> "$GITHUB_OUTPUT"
      - name: drill (exit 1 on any missed objective)
        run: npm run drill -- --level \${{ steps.level.outputs.level }} --out reports
      - name: report
        if: always()
        run: npx zx runbooks/report.ts --out reports
      - name: upload the report and the evidence ledger
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: dr-drill-\${{ steps.level.outputs.level }}-\${{ github.run_id }}
          path: |
            reports/
            .state/local/evidence.jsonl
            .state/local/audit.log
          if-no-files-found: warn
`
}
