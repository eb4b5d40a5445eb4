import { describe, expect, it } from 'vitest'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { Sealer, sealedLength } from '../../runbooks/lib/ops/exports/sealed.ts'
import { labelTime } from '../../runbooks/lib/ops/exports/logical-export.ts'

async function through(t: NodeJS.ReadWriteStream, input: Buffer, chunk = 7): Promise<Buffer> {
  const parts: Buffer[] = []
  const chunks = Array.from({ length: Math.ceil(input.length / chunk) }, (_, i) =>
    input.subarray(i * chunk, (i + 1) * chunk),
  )
  await pipeline(
    Readable.from(chunks),
    t,
    new Writable({
      write(c: Buffer, _e, done) {
        parts.push(c)
        done()
      },
    }),
  )
  return Buffer.concat(parts)
}

describe('sealed files (offsite exports)', () => {
  const plain = Buffer.from('user_id,progress_data\n1,{"lesson": 3}\n'.repeat(200))
  const sealer = new Sealer('correct horse battery staple')
  const salt = sealer.newSalt()

  it('round-trips in small chunks, hides the plaintext, and has the announced length', async () => {
    const sealed = await through(sealer.seal(salt), plain)
    expect(sealed.length).toBe(sealedLength(plain.length))
    expect(sealed.subarray(0, 4).toString()).toBe('LDX1')
    expect(sealed.includes(Buffer.from('progress_data'))).toBe(false)
    expect(await through(new Sealer('correct horse battery staple').open(), sealed, 5)).toEqual(plain)
    expect(await through(sealer.open(), await through(sealer.seal(salt), Buffer.alloc(0)))).toEqual(Buffer.alloc(0))
  })

  it('refuses a changed byte, a truncated file and a wrong pass', async () => {
    const sealed = await through(sealer.seal(salt), plain)
    const changed = Buffer.from(sealed)
    changed[100] = changed[100]! ^ 1
    await expect(through(sealer.open(), changed)).rejects.toThrow(/failed authentication/)
    await expect(through(sealer.open(), sealed.subarray(0, sealed.length - 1))).rejects.toThrow(/failed authentication/)
    await expect(through(new Sealer('wrong').open(), sealed)).rejects.toThrow(/failed authentication/)
    await expect(
      through(sealer.open(), Buffer.from('PK\x03\x04 not sealed at all, long enough for a header')),
    ).rejects.toThrow(/not a sealed file/)
  })

  it('reads an export label as its UTC start time', () => {
    expect(labelTime('20261126T013000L')).toBe(Date.parse('2026-11-26T01:30:00Z'))
    expect(labelTime('20261126-013000F')).toBeUndefined()
  })
})
