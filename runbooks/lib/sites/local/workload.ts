/**
 * Start/stop the workload writer and score what a failover or restore lost: acknowledged
 * commits absent from a node.
 */
import { existsSync, readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import type { Layout } from './layout.ts'
import type { Ack } from '../local-port.ts'

export type { Ack }
import { pidAlive, readPid, startDetached, stopByPidFile, waitFor } from '../../adapters/process.ts'
import { query, type Conn } from '../../adapters/postgres.ts'

const WRITER = fileURLToPath(new URL('./writer.ts', import.meta.url))
const TSX = createRequire(import.meta.url).resolve('tsx')

export function writerRunning(l: Layout): boolean {
  return pidAlive(readPid(l.workload.pid), 'writer.ts')
}

export async function startWriter(l: Layout, rate: number): Promise<string> {
  if (writerRunning(l))
    throw new Error(`a workload writer already runs (pid ${readPid(l.workload.pid)}); stop it first`)
  const id = `w${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
  startDetached(
    process.execPath,
    ['--import', TSX, WRITER, String(l.ports.endpoint), l.workload.acks, String(rate), id],
    { log: l.workload.log, pidFile: l.workload.pid, env: { PGPASSFILE: l.secrets.pgpass } },
  )
  await waitFor("the writer's first acknowledged commit", async () => acked(l, id).length > 0, 20_000)
  return id
}

export function stopWriter(l: Layout): Promise<boolean> {
  return stopByPidFile(l.workload.pid, 'writer.ts')
}

/** Acknowledged commits of one writer (all writers when id is undefined). */
export function acked(l: Layout, id?: string): (Ack & { writer: string })[] {
  if (!existsSync(l.workload.acks)) return []
  const out: (Ack & { writer: string })[] = []
  for (const line of readFileSync(l.workload.acks, 'utf8').split('\n')) {
    const [w, s, t, p] = line.split(' ')
    if (!w || !s || (id && w !== id)) continue
    out.push({ writer: w, seq: Number(s), at: Number(t), port: Number(p) })
  }
  return out
}

/** Which acknowledged commits are missing from a node (optionally only those acked before a time). */
export async function lostCommits(
  conn: Conn,
  acks: (Ack & { writer: string })[],
): Promise<(Ack & { writer: string })[]> {
  if (acks.length === 0) return []
  const writers = [...new Set(acks.map((a) => a.writer))]
  const rows = await query<{ writer: string; seq: string }>(
    conn,
    'SELECT writer, seq::text FROM drill_ledger WHERE writer = ANY($1)',
    [writers],
    0,
  )
  const present = new Set(rows.map((r) => `${r.writer} ${r.seq}`))
  return acks.filter((a) => !present.has(`${a.writer} ${a.seq}`))
}
