/**
 * The LabDojo application tree the files backups cover, generated once by `up`: a source
 * checkout (a git repository with history, node_modules and dist beside the code), a config
 * directory (nginx, the app's settings, a TLS key kept 0600), user uploads (realistic binary
 * files: images that do not compress, documents that do), logs (current and rotated), and a
 * staging area. About 500 MB of uploads at scale 1.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes, generateKeyPairSync, randomInt } from 'node:crypto'
import { join } from 'node:path'
import type { Runner } from '../../adapters/exec.ts'

const SERVER_JS = `// LabDojo app (local stand-in): serves /health from the built tree
const http = require('http')
const port = Number(process.env.PORT || 8080)
http.createServer((req, res) => {
  if (req.url === '/health') return res.end(JSON.stringify({ status: 'ok', version: require('./version.json').version }))
  res.statusCode = 404
  res.end()
}).listen(port, '127.0.0.1')
`
const BUILD_JS = `// build: src -> dist
const fs = require('fs')
fs.rmSync('dist', { recursive: true, force: true })
fs.mkdirSync('dist')
for (const f of fs.readdirSync('src')) fs.copyFileSync('src/' + f, 'dist/' + f)
fs.writeFileSync('dist/version.json', JSON.stringify({ version: require('./package.json').version }))
`
const NGINX = `server {
  listen 443 ssl;
  server_name labdojo.local;
  ssl_certificate /opt/labdojo/config/tls/server.pub;
  ssl_certificate_key /opt/labdojo/config/tls/server.key;
  location / { proxy_pass http://127.0.0.1:8080; }
}
`

/** How many upload files, and their size range, for a data-set scale (about 500 MB at scale 1). */
export function uploadsPlan(scale: number): { count: number; maxBytes: number } {
  return { count: Math.max(24, Math.round(2000 * scale)), maxBytes: 500_000 }
}

/** Generate the tree (once: an existing tree is left as it is); true when it did. */
export async function ensureAppTree(run: Runner, root: string, scale: number): Promise<boolean> {
  if (existsSync(root)) return false
  const tmp = `${root}.generating`
  rmSync(tmp, { recursive: true, force: true })
  await writeSource(run, join(tmp, 'source'))
  writeConfig(join(tmp, 'config'))
  writeUploads(join(tmp, 'uploads'), scale)
  writeLogs(join(tmp, 'logs'))
  write(join(tmp, 'staging', 'seed-courses.json'), JSON.stringify({ courses: 12, generated: new Date() }))
  renameSync(tmp, root) // whole or not at all
  return true
}

function write(file: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, data, { mode })
  chmodSync(file, mode)
}

async function writeSource(run: Runner, dir: string): Promise<void> {
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=LabDojo', '-c', 'user.email=dev@labdojo.local', ...args], { cwd: dir })
  write(
    join(dir, 'package.json'),
    JSON.stringify(
      { name: 'labdojo-app', version: '1.4.0', scripts: { build: 'node build.js', start: 'node dist/server.js' } },
      null,
      2,
    ),
  )
  write(join(dir, 'build.js'), BUILD_JS)
  write(join(dir, '.gitignore'), 'node_modules\ndist\n')
  await run('git', ['init', '-q', '-b', 'main'], { cwd: dir })
  write(join(dir, 'src', 'server.js'), SERVER_JS)
  await git('add', '-A')
  await git('commit', '-q', '-m', 'LabDojo app: health endpoint')
  write(join(dir, 'src', 'courses.js'), 'module.exports = { list: () => [] }\n')
  await git('add', '-A')
  await git('commit', '-q', '-m', 'courses module')
  await git('tag', 'v1.4.0')
  await git('checkout', '-q', '-b', 'feature/progress-export')
  write(join(dir, 'src', 'export.js'), 'module.exports = { csv: () => "" }\n')
  await git('add', '-A')
  await git('commit', '-q', '-m', 'progress export (work in progress)')
  await git('checkout', '-q', 'main')
  // what a working tree also holds, and the source archive leaves out
  write(join(dir, 'node_modules', 'left-pad', 'index.js'), 'module.exports = (s) => s\n')
  write(join(dir, 'dist', 'server.js'), SERVER_JS)
}

function writeConfig(dir: string): void {
  write(join(dir, 'nginx', 'labdojo.conf'), NGINX)
  write(
    join(dir, 'app', 'labdojo.yaml'),
    'database:\n  host: 127.0.0.1\n  name: labdojo\nuploads: /opt/labdojo/uploads\n',
  )
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  write(join(dir, 'tls', 'server.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600)
  write(join(dir, 'tls', 'server.pub'), publicKey.export({ type: 'spki', format: 'pem' }) as string)
  chmodSync(join(dir, 'tls'), 0o700)
}

function writeUploads(dir: string, scale: number): void {
  const { count, maxBytes } = uploadsPlan(scale)
  for (let i = 0; i < count; i++) {
    const size = randomInt(maxBytes / 50, maxBytes)
    const user = `user-${(i % 97).toString().padStart(3, '0')}`
    if (i % 4 === 3) {
      // a document: text that compresses
      const line = `LabDojo certificate ${i} for ${user}: course completed with distinction.\n`
      write(join(dir, user, `certificate-${i}.pdf`), Buffer.from(line.repeat(Math.ceil(size / line.length))))
    } else write(join(dir, user, `avatar-${i}.jpg`), randomBytes(size)) // an image: does not compress
  }
}

function writeLogs(dir: string): void {
  const line = (i: number) => `2026-11-${String((i % 28) + 1).padStart(2, '0')}T10:00:00Z GET /api/progress/${i} 200\n`
  write(join(dir, 'access.log'), Array.from({ length: 2000 }, (_, i) => line(i)).join(''))
  write(join(dir, 'app.log'), 'started\nconnected to labdojo\n')
  write(join(dir, 'archive', 'access.log.1'), Array.from({ length: 5000 }, (_, i) => line(i)).join(''))
}
