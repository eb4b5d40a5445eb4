/**
 * The runbooks image, built for real with buildah (Debian's; chroot isolation: no daemon; the
 * kernel's overlay driver in a storage root of the test's own, removed after: vfs copied the whole
 * tree at every layer, 190 s of a loaded CI run) from the repo's Dockerfile, then run: the tools the runbooks call answer,
 * it runs as uid 26, and a runbook starts. No image registry is reachable here, so the official
 * base (node:20-bookworm-slim: Debian bookworm slim with Node 20 in /usr/local) is stood in for by
 * the same layout built from Debian's mirror (debootstrap) and this machine's Node 20; the
 * Dockerfile takes it as its BASE build argument. The stand-in also trusts this machine's egress
 * CA (npm's registry is reached through it); the Dockerfile itself carries no such trust.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { ROOT } from '../helpers/site.ts'

const ENV = { STORAGE_DRIVER: 'overlay', BUILDAH_ISOLATION: 'chroot' }
const tag = `${process.pid}-${Date.now()}`
const BASE = `localhost/labdojo-test-node20-bookworm:${tag}`
const IMAGE = `localhost/labdojo-dr-runbooks:${tag}`
let work = ''

const buildah = (args: string[], timeoutMs = 1_800_000) =>
  run('buildah', ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), ...args], {
    env: ENV,
    timeoutMs,
    nothrow: true,
  })

/** Debian bookworm (minbase) with Node 20 and npm where the official image keeps them. */
async function standInBase(): Promise<void> {
  const rootfs = join(work, 'rootfs')
  const boot = await run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian'], {
    timeoutMs: 1_800_000,
    nothrow: true,
  })
  if (boot.code !== 0) throw new Error(`debootstrap failed: ${boot.stderr.slice(-500)}`)
  mkdirSync(join(rootfs, 'usr/local/lib/node_modules'), { recursive: true })
  cpSync(process.execPath, join(rootfs, 'usr/local/bin/node'))
  const globalRoot = (await run('npm', ['root', '-g'])).stdout.trim()
  cpSync(join(globalRoot, 'npm'), join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true })
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'))
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'))
  const cas = existsSync('/usr/local/share/ca-certificates')
    ? readdirSync('/usr/local/share/ca-certificates').filter((f) => f.endsWith('.crt'))
    : []
  const pem = join(rootfs, 'usr/local/share/ca-certificates/this-machine.pem')
  mkdirSync(join(rootfs, 'usr/local/share/ca-certificates'), { recursive: true })
  writeFileSync(pem, cas.map((f) => readFileSync(join('/usr/local/share/ca-certificates', f), 'utf8')).join('\n'))
  const ctr = (await buildah(['from', 'scratch'])).stdout.trim()
  for (const args of [
    ['copy', ctr, rootfs, '/'],
    [
      'config',
      '--env',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...(cas.length ? ['--env', 'NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/this-machine.pem'] : []),
      ctr,
    ],
    ['commit', '--rm', ctr, BASE],
  ]) {
    const r = await buildah(args)
    if (r.code !== 0) throw new Error(`buildah ${args[0]}: ${r.stderr}`)
  }
  rmSync(rootfs, { recursive: true, force: true })
}

beforeAll(async () => {
  work = mkdtempSync('/var/tmp/labdojo-image-test-')
  await standInBase()
})

afterAll(async () => {
  if (!work) return
  await buildah(['rm', '--all'])
  await buildah(['rmi', '--all', '--force'])
  rmSync(work, { recursive: true, force: true })
})

describe('the runbooks image (Dockerfile), built with buildah and run', () => {
  it('builds from the repo with the stand-in base', async () => {
    const r = await buildah(['bud', '--build-arg', `BASE=${BASE}`, '-t', IMAGE, '-f', 'Dockerfile', ROOT])
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
  })

  it('runs as uid 26 with the tools the runbooks call, and a runbook starts', async () => {
    const ctr = (await buildah(['from', IMAGE])).stdout.trim()
    try {
      const script = [
        'id -u',
        'pg_dump --version',
        'pgbackrest version',
        'restic version',
        'lz4 --version',
        'git --version',
        'cd /app && npx zx runbooks/backup.ts --help',
      ].join(' && ')
      const r = await buildah(['run', ctr, '--', 'sh', '-c', script])
      expect(r.code, r.stderr).toBe(0)
      const out = r.stdout.split('\n')
      expect(out[0]).toBe('26')
      expect(r.stdout).toMatch(/pg_dump \(PostgreSQL\) 15\./)
      expect(r.stdout).toMatch(/pgBackRest 2\.\d+/)
      expect(r.stdout).toMatch(/restic \d+\.\d+/)
      expect(r.stdout).toMatch(/LZ4 command line interface/)
      expect(r.stdout).toMatch(/Usage: npx zx runbooks\/backup\.ts --type full\|diff\|incr\|logical/)
    } finally {
      await buildah(['rm', ctr])
    }
  })
})
