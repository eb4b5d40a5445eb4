/**
 * The twin's certificates, made with openssl: one CA per stack chain (the program's
 * ReplicationTls: the clusters that stream to each other share it), a server certificate per
 * cluster naming its addresses and names (PGO's customTLSSecret: ca.crt, tls.crt, tls.key), and
 * the replication client certificate, CN `_crunchyrepl` (PGO's customReplicationTLSSecret).
 * Keys are 0600, owned by postgres (PostgreSQL refuses a key others can read).
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Runner } from '../../adapters/exec.ts'
import { giveToSiteUser, mkdirForSiteUser } from '../../adapters/process.ts'
import { REPLICATION_USER } from '../../../../core/pgo.ts'

export interface TlsFiles {
  ca: string
  cert: string
  key: string
}

const subj = (cn: string) => `/O=labdojo-dr twin/CN=${cn}`

export async function ensureCa(run: Runner, dir: string): Promise<{ cert: string; key: string }> {
  mkdirForSiteUser(dir, 0o700)
  const cert = join(dir, 'ca.crt')
  const key = join(dir, 'ca.key')
  if (!existsSync(cert)) {
    await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key])
    chmodSync(key, 0o600)
    await run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-sha256',
      '-days',
      '30',
      '-subj',
      subj('labdojo-dr twin CA'),
      '-out',
      cert,
    ])
  }
  return { cert, key }
}

/** A certificate signed by the CA: a server's (names and addresses as SANs) or a client's (CN only). */
export async function issue(
  run: Runner,
  ca: { cert: string; key: string },
  dir: string,
  cn: string,
  sans: { dns: string[]; ip: string[] },
): Promise<TlsFiles> {
  mkdirForSiteUser(dir, 0o700)
  const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }
  if (existsSync(files.cert)) return files
  const csr = join(dir, 'tls.csr')
  const ext = join(dir, 'ext.cnf')
  const alt = [...sans.dns.map((d) => `DNS:${d}`), ...sans.ip.map((i) => `IP:${i}`)]
  writeFileSync(ext, alt.length ? `subjectAltName=${alt.join(',')}\n` : 'basicConstraints=CA:FALSE\n')
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', files.key])
  await run('openssl', ['req', '-new', '-key', files.key, '-subj', subj(cn), '-out', csr])
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '30',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    files.cert,
  ])
  await run('cp', [ca.cert, files.ca])
  for (const f of Object.values(files)) {
    chmodSync(f, f === files.key ? 0o600 : 0o644)
    giveToSiteUser(f)
  }
  return files
}

export const replicationClient = (run: Runner, ca: { cert: string; key: string }, dir: string) =>
  issue(run, ca, dir, REPLICATION_USER, { dns: [], ip: [] })
