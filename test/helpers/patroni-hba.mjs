// Patroni's part of a pg_hba change, for tests whose "PGO cluster" is a local site's primary:
// given the merge patch kubectl was told, write the rules after the site's own mandatory lines
// (the socket for postgres, replication over TCP) as PGO does, or put the original file back
// when the rules are removed (null), then reload the server as Patroni does.
// usage: node patroni-hba.mjs DATA_DIR PATCH_JSON
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const [dataDir, patchJson] = process.argv.slice(2)
const rules = JSON.parse(patchJson).spec?.patroni?.dynamicConfiguration?.postgresql?.pg_hba
if (rules === undefined) process.exit(0)
const file = join(dataDir, 'pg_hba.conf')
const original = `${file}.before-gate`
if (!existsSync(original)) copyFileSync(file, original)
const mandatory = readFileSync(original, 'utf8')
  .split('\n')
  .filter((l) => /^local\s/.test(l) || /^host\s+replication\s/.test(l))
writeFileSync(file, rules === null ? readFileSync(original, 'utf8') : [...mandatory, ...rules, ''].join('\n'))
process.kill(Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGHUP')
