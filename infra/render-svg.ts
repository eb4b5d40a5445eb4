/**
 * The topology diagram as SVG: Mermaid (the npm library, loaded from node_modules) rendered in
 * Debian's headless Chromium through playwright-core. No request leaves the page: it is built
 * from a string, the library is injected from disk, and every request is refused. Without a
 * browser the caller keeps the Mermaid text and says why.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'

export const CHROMIUM = process.env.LABDOJO_CHROMIUM ?? '/usr/bin/chromium'

export type Rendered = { svg: string; requests: string[] } | { svg: null; why: string }

export async function renderMermaidSvg(text: string): Promise<Rendered> {
  if (!existsSync(CHROMIUM)) return { svg: null, why: `no browser at ${CHROMIUM} (apt-get install chromium)` }
  const { chromium } = await import('playwright-core')
  const library = createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage()
    const requests: string[] = []
    await page.route('**/*', (route) => {
      requests.push(route.request().url())
      return route.abort()
    })
    await page.setContent('<!doctype html><html><body></body></html>')
    await page.addScriptTag({ path: library })
    const svg = await page.evaluate(async (src: string) => {
      const m = (
        globalThis as unknown as {
          mermaid: { initialize(o: object): void; render(id: string, text: string): Promise<{ svg: string }> }
        }
      ).mermaid
      // plain SVG text labels where Mermaid allows (no HTML inside foreignObject)
      m.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral', htmlLabels: false })
      const { svg } = await m.render('topology', src)
      // Mermaid writes HTML (<br>) into labels: re-serialize through the DOM as well-formed XML
      const w = globalThis as unknown as {
        document: { body: { innerHTML: string; firstElementChild: unknown } }
        XMLSerializer: new () => { serializeToString(n: unknown): string }
      }
      w.document.body.innerHTML = svg
      return new w.XMLSerializer().serializeToString(w.document.body.firstElementChild)
    }, text)
    return { svg, requests }
  } finally {
    await browser.close()
  }
}
