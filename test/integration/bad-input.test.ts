/**
 * Bad input is refused before anything changes (exit 2, the input named, nothing recorded or
 * stopped), on a real site: the cases an attacker's run found accepted or mishandled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { alive, pidsOf, ROOT, runbook, testSite, type TestSite } from '../helpers/site.ts'
import { processesWith } from '../../runbooks/lib/adapters/process.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('bad-input')
let t: TestSite
let dir = ''
const TSX = createRequire(import.meta.url).resolve('tsx')
const ledger = () => join(t.stateDir, 'evidence.jsonl')
const ledgerText = () => (existsSync(ledger()) ? readFileSync(ledger(), 'utf8') : '')

beforeAll(async () => {
  t = testSite(BASE)
  const up = await runbook('local', ['up', '--scale', '0.002'], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
  dir = mkdtempSync('/var/tmp/labdojo-bad-input-')
})
afterAll(async () => {
  await t?.cleanup()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('refused with exit 2, nothing changed', () => {
  it('drill --base-port of another site: refused before the drill starts, no FAILED drill recorded', async () => {
    const before = ledgerText()
    const r = await runbook('drill', ['--base-port', String(BASE + 100), '--skip-failover'], t.env)
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(new RegExp(`--base-port.*created with base port ${BASE}`))
    expect(ledgerText()).toBe(before)
  })

  it('local.ts down --purge without --yes refuses before it stops anything', async () => {
    const before = pidsOf(t.stateDir)
    const r = await runbook('local', ['down', '--purge'], t.env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--yes.*refusing without confirmation/)
    const after = pidsOf(t.stateDir)
    expect(after).toEqual(before)
    for (const pid of Object.values(after)) expect(alive(pid)).toBe(true)
  })

  it('evidence.ts sign --by with bytes that are not UTF-8 records nothing', () => {
    const before = ledgerText()
    const s = spawnSync(
      'bash',
      [
        '-c',
        `exec "$0" --import "$1" "$2" sign --item training --by "$(printf '\\xff\\xfe')"`,
        process.execPath,
        TSX,
        join(ROOT, 'runbooks', 'evidence.ts'),
      ],
      { env: { ...process.env, NODE_OPTIONS: '', ...t.env }, encoding: 'utf8', cwd: ROOT },
    )
    expect(s.status, s.stderr).toBe(2)
    expect(s.stderr).toMatch(/--by.*not UTF-8/)
    expect(ledgerText()).toBe(before)
  })

  it('stray positional arguments', async () => {
    for (const [rb, args] of [
      ['evidence', ['verify', 'now']],
      ['local', ['status', 'please']],
      ['erasure', ['report', 'all']],
      ['evidence', ['verfiy']],
    ] as const) {
      const r = await runbook(rb, [...args], t.env)
      expect(r.code, `${rb} ${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(/error: bad input: (argument|action)/)
    }
  })

  it('an inventory of null, a list or a number: a message naming it, never a TypeError', async () => {
    for (const body of ['null', '[]', '42']) {
      const file = join(dir, `inv-${body}.json`)
      writeFileSync(file, body)
      const r = await runbook('catalog', ['--stack', 'prod', '--inventory', file], t.env)
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toMatch(/invalid inventory .*inventory.*is not an object/)
      expect(r.stderr).not.toMatch(/TypeError/)
    }
  })

  it('monitor.ts --port that is taken: exit 2 at once, no exporter left running', async () => {
    const port = BASE + 19
    const holder: Server = createServer()
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve))
    try {
      const r = await runbook('monitor', ['--port', String(port)], t.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(new RegExp(`--port \\(got ${port}\\).*already in use`))
    } finally {
      holder.close()
    }
  })
})

describe('signals through npm', () => {
  it('SIGINT to `npm run monitor` reaches the runbook: it stops, nothing left running', async () => {
    const port = BASE + 18
    const npm = spawn('npm', ['run', '-s', 'monitor', '--', '--port', String(port)], {
      cwd: ROOT,
      env: { ...process.env, ...t.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    npm.stderr.on('data', (d) => (err += d))
    const exited = new Promise<number | null>((resolve) => npm.on('close', (code) => resolve(code)))
    // serving: then signal npm alone (not its process group), as a supervisor does
    for (let i = 0; i < 600 && !/serving http/.test(err); i++) await new Promise((r) => setTimeout(r, 100))
    expect(err).toMatch(/serving http/)
    const runbooks = () =>
      processesWith((argv) => argv.some((a) => a.endsWith('runbooks/monitor.ts')) && argv.includes(String(port)))
    expect(runbooks().length).toBeGreaterThan(0)
    process.kill(npm.pid!, 'SIGINT')
    await exited
    for (let i = 0; i < 100 && runbooks().length; i++) await new Promise((r) => setTimeout(r, 100))
    expect(runbooks()).toEqual([])
  })
})
