/**
 * A Slack-compatible webhook receiver on 127.0.0.1: every POST is kept with its path, body and
 * arrival time. It stands in for the communication plan's channels in drills and tests.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  path: string
  body: string
  at: number
  /** the Authorization header (a signed AWS call's SigV4), when there was one */
  authorization?: string
}

export class WebhookReceiver {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly received: Received[],
  ) {}

  static async start(port = 0): Promise<WebhookReceiver> {
    const received: Received[] = []
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        received.push({
          path: req.url ?? '/',
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        })
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    return new WebhookReceiver(server, (server.address() as AddressInfo).port, received)
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}/${encodeURIComponent(path)}`
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
