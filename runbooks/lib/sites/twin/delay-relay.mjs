// The twin's cross-region latency (this kernel has no netem): a TCP relay inside a region, which
// nftables hands every connection this region opens to another region's PostgreSQL (the
// connection is redirected to a port of this relay per destination; the relay itself runs as
// nobody, whose connections nftables leaves alone). Each connection pays one round trip before
// it opens (the TCP handshake) and every chunk half a round trip each way, in order.
// usage: node delay-relay.mjs RTT_MS LISTEN_IP:PORT=TARGET_IP:PORT ...
import { createServer, connect } from 'node:net'

const [rttArg, ...pairs] = process.argv.slice(2)
const oneWay = Number(rttArg) / 2

/** Forward a socket's data to another after the one-way delay, in order. */
function delayed(from, to) {
  from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), oneWay))
  from.on('end', () => setTimeout(() => to.end(), oneWay))
}

for (const pair of pairs) {
  const [listen, target] = pair.split('=')
  const [lip, lport] = listen.split(':')
  const [tip, tport] = target.split(':')
  createServer((client) => {
    client.pause()
    client.on('error', () => {})
    setTimeout(() => {
      const upstream = connect({ host: tip, port: Number(tport) }, () => {
        delayed(client, upstream)
        delayed(upstream, client)
        client.resume()
      })
      upstream.on('error', () => client.destroy())
      client.on('close', () => setTimeout(() => upstream.destroy(), oneWay))
      upstream.on('close', () => setTimeout(() => client.destroy(), oneWay))
    }, 2 * oneWay)
  }).listen(Number(lport), lip)
}
