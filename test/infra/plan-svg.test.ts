/**
 * Issue 14, deliverable 5: `npm run plan` renders the topology to SVG as well as Mermaid, in
 * Debian's headless Chromium with the mermaid library from node_modules — no request leaves the
 * page — and the SVG is well-formed XML that a browser opens as an image with the sites on it.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { CHROMIUM, renderMermaidSvg } from '../../infra/render-svg.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const out = mkdtempSync('/tmp/labdojo-plan-svg-')
afterAll(() => rmSync(out, { recursive: true, force: true }))

describe('the topology as SVG', () => {
  it('renders Mermaid without a single network request', async () => {
    const r = await renderMermaidSvg('flowchart LR\n  a["primary<br/>us-east-1"] --> b(["hot"])\n')
    expect(r.svg).not.toBeNull()
    if (r.svg === null) return
    expect(r.requests).toEqual([])
    expect(r.svg).toMatch(/^<svg[^>]+xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    expect(r.svg).not.toContain('<br>') // re-serialized as XML
  })

  it.each(['prod', 'dr'])(
    'npm run plan -- --stack %s writes <stack>-topology.svg that Chromium opens as an image',
    async (stack) => {
      const plan = [join(ROOT, 'infra/plan.ts'), '--stack', stack, '--out', out]
      const r = await run(process.execPath, ['--import', 'tsx', ...plan], { cwd: ROOT, nothrow: true })
      expect(r.code, r.stderr).toBe(0)
      const file = join(out, `${stack}-topology.svg`)
      expect(r.stdout).toContain(`topology SVG: ${file}`)
      const svg = readFileSync(file, 'utf8')
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
      try {
        const page = await browser.newPage()
        await page.goto(`file://${file}`) // served as image/svg+xml: a malformed file shows a parser error
        expect(await page.locator('parsererror').count()).toBe(0)
        const text = (await page.textContent('svg')) ?? ''
        for (const site of stack === 'prod' ? ['primary', 'hot'] : ['warm site', 'cold site'])
          expect(text).toContain(site)
        expect(svg).toContain('</svg>')
      } finally {
        await browser.close()
      }
    },
  )
})
