/**
 * The workload writer: commits at a steady rate through the traffic endpoint and appends
 * every acknowledged commit (writer id + sequence) to the ack log, so a failover or restore
 * can be scored exactly. Reconnects on error; a commit whose outcome is unknown is not acked.
 *
 *   tsx writer.ts <port> <acks-file> <rate-per-s> <writer-id>
 */
import pg from 'pg'
import { appendFileSync } from 'node:fs'
import { passwordFor } from '../../adapters/postgres.ts'

const [port, acks, rateRaw, writer] = process.argv.slice(2)
const rate = Number(rateRaw)
const interval = 1000 / rate
let seq = 0
let stopping = false
process.on('SIGTERM', () => (stopping = true))
process.on('SIGINT', () => (stopping = true))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function connect(): Promise<pg.Client> {
  for (;;) {
    const conn = { host: '127.0.0.1', port: Number(port), user: 'postgres', database: 'labdojo' }
    const c = new pg.Client({
      ...conn,
      password: passwordFor(conn), // from $PGPASSFILE, the site's password file
      connectionTimeoutMillis: 1000,
      query_timeout: 3000,
      application_name: `writer-${writer}`,
    })
    c.on('error', () => {})
    try {
      await c.connect()
      await c.query('SET statement_timeout = 5000')
      return c
    } catch {
      await c.end().catch(() => {})
      if (stopping) process.exit(0)
      await sleep(20)
    }
  }
}

let client = await connect()
let next = Date.now()
while (!stopping) {
  seq++
  try {
    const r = await client.query(
      'INSERT INTO drill_ledger (writer, seq, payload) VALUES ($1, $2, $3) RETURNING inet_server_port() AS port',
      [writer, seq, `commit ${seq} of ${writer}`],
    )
    appendFileSync(acks!, `${writer} ${seq} ${Date.now()} ${r.rows[0].port}\n`)
  } catch {
    await client.end().catch(() => {})
    client = await connect()
  }
  next += interval
  const wait = next - Date.now()
  if (wait > 0) await sleep(wait)
  else if (wait < -1000) next = Date.now()
}
await client.end().catch(() => {})
