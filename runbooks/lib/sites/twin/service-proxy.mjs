// The twin's stand-in for a PGO cluster's primary Service (labdojo-primary, the LoadBalancer the
// site endpoint names): PGO points it at the pod Patroni labels as the leader. Here each new
// connection goes to the instance whose Patroni REST API answers GET /leader with 200 (the
// primary, or a standby cluster's standby leader); none: the connection is closed, as a Service
// without endpoints refuses. The REST API is PGO's: TLS only, verified against the cluster's CA.
// usage: node service-proxy.mjs LISTEN_IP:PORT PG_PORT PATRONI_PORT CA_FILE INSTANCE_IP...
import { createServer, connect } from 'node:net'
import { request } from 'node:https'
import { readFileSync } from 'node:fs'

const [listen, pgPort, patroniPort, caFile, ...instances] = process.argv.slice(2)
const ca = readFileSync(caFile)
const [listenIp, listenPort] = listen.split(':')

function isLeader(ip) {
  return new Promise((resolve) => {
    const req = request(
      { host: ip, port: Number(patroniPort), path: '/leader', method: 'GET', timeout: 1000, ca },
      (res) => {
        res.resume()
        resolve(res.statusCode === 200)
      },
    )
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

let cached = { ip: null, at: 0 }
async function leader() {
  if (cached.ip && Date.now() - cached.at < 1000) return cached.ip
  const answers = await Promise.all(instances.map(isLeader))
  const ip = instances[answers.indexOf(true)] ?? null
  cached = { ip, at: Date.now() }
  return ip
}

createServer(async (client) => {
  client.pause()
  client.on('error', () => {})
  const ip = await leader()
  if (!ip) return client.destroy()
  const upstream = connect({ host: ip, port: Number(pgPort) })
  upstream.on('error', () => client.destroy())
  client.on('close', () => upstream.destroy())
  upstream.on('close', () => client.destroy())
  client.pipe(upstream)
  upstream.pipe(client)
  client.resume()
}).listen(Number(listenPort), listenIp)
