/** What runs by itself comes from the policy: the scheduler's jobs and the CI drill workflow. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { scheduledJobs } from '../../core/schedule.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { DRILL_WORKFLOW, renderDrillWorkflow } from '../../runbooks/lib/output/drill-workflow.ts'
import { nextRuns } from '../../runbooks/lib/sites/local/scheduler.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const policy = loadPolicy(ROOT, 'local')

describe('scheduledJobs', () => {
  it("runs each backup by the policy's cron, proves it afterwards, and each drill level at its cron", () => {
    const jobs = Object.fromEntries(scheduledJobs(policy).map((j) => [j.name, j]))
    expect(jobs['full backup']).toMatchObject({ cron: policy.schedules.full.cron, args: ['--type', 'full'] })
    expect(jobs['incremental backup']!.cron).toBe(policy.schedules.incremental.cron)
    expect(jobs['differential backup']!.then).toMatchObject({ runbook: 'verify', args: ['--backup', 'pending'] })
    expect(jobs['logical export']!.cron).toBe(policy.schedules.logicalExport.cron)
    expect(jobs['quarterly drill']).toMatchObject({ cron: policy.schedules.drills.quarterly, runbook: 'drill' })
  })

  it('no two drill levels start in the same month', () => {
    const months = (cron: string) => cron.split(' ')[3]!.split(',').map(Number)
    const d = policy.schedules.drills
    const all = [...months(d.monthly), ...months(d.quarterly), ...(d.annual.split(' ')[3] === '1' ? [1] : [])]
    expect(new Set(all).size).toBe(all.length)
    expect(all.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  it('says when each job runs next (UTC)', () => {
    const next = nextRuns(policy, new Date('2026-11-30T12:00:00Z'))
    const by = Object.fromEntries(next.map((n) => [n.job, n.at]))
    expect(by['full backup']).toBe('2026-12-06T02:00:00.000Z') // Sunday 02:00
    expect(by['monthly drill']).toBe('2026-12-01T05:00:00.000Z')
    expect(by['annual drill']).toBe('2027-01-01T05:00:00.000Z')
    expect(next.map((n) => n.at)).toEqual([...next.map((n) => n.at)].sort())
  })
})

describe('the CI drill workflow', () => {
  it(`${DRILL_WORKFLOW} is what the policy generates (run npm run gen:workflow after changing the policy)`, () => {
    expect(readFileSync(join(ROOT, DRILL_WORKFLOW), 'utf8')).toBe(renderDrillWorkflow(policy))
  })

  it('schedules every level at its policy cron, runs the drill, uploads report and ledger whatever happened', () => {
    const wf = parse(renderDrillWorkflow(policy))
    expect(wf.on.schedule.map((s: { cron: string }) => s.cron)).toEqual(Object.values(policy.schedules.drills))
    const steps = wf.jobs.drill.steps
    const drill = steps.find((s: { run?: string }) => s.run?.includes('npm run drill'))
    expect(drill.run).toContain('--level ${{ steps.level.outputs.level }}')
    expect(drill.if).toBeUndefined() // its exit code fails the job
    const upload = steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/upload-artifact'))
    expect(upload.if).toBe('always()')
    expect(upload.with.path).toMatch(/reports\/[\s\S]*evidence\.jsonl/)
  })

  it('a policy change shows in the workflow', () => {
    const p = structuredClone(policy)
    p.schedules.drills.monthly = '30 6 1 2,3,5,6,8,9,11,12 *'
    expect(renderDrillWorkflow(p)).toContain('- cron: "30 6 1 2,3,5,6,8,9,11,12 *" # monthly')
    expect(renderDrillWorkflow(p)).toContain('"30 6 1 2,3,5,6,8,9,11,12 *") level=monthly ;;')
  })
})
