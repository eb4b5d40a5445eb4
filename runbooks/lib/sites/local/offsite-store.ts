/**
 * The local site's offsite store: repo 2's bucket on the site's S3 endpoint (TLS pinned to its
 * certificate, every request signed with the site's key). Exports, ledger copies and the audit
 * log's anchors live there beside pgBackRest's repo.
 */
import { readFileSync } from 'node:fs'
import { ObjectStore } from '../../adapters/object-store.ts'
import { tlsReachable } from '../../adapters/s3-server.ts'
import { BUCKET, type Layout } from './layout.ts'
import { s3Key } from './secrets.ts'

export function offsiteStore(layout: Layout, env = process.env): ObjectStore {
  return new ObjectStore({
    endpoint: `https://127.0.0.1:${layout.ports.s3}`,
    bucket: BUCKET,
    region: 'us-east-1',
    ...s3Key(layout, env),
    ca: readFileSync(layout.s3.cert, 'utf8'),
  })
}

/**
 * Why the offsite store cannot answer now, if it cannot (a TLS handshake within 1.5 s): callers
 * that can go on without it say so at once instead of waiting out a request's timeout.
 */
export async function offsiteDown(layout: Layout): Promise<string | undefined> {
  return (await tlsReachable(layout.ports.s3, 1500))
    ? undefined
    : `the offsite S3 store 127.0.0.1:${layout.ports.s3} does not answer (TLS handshake)`
}
