/**
 * Client-side encryption for files we put in offsite object storage ourselves (logical
 * exports; pgBackRest encrypts its own repo). AES-256-GCM, so a changed byte fails to open;
 * the key is derived from a passphrase with scrypt and a per-export salt.
 *
 *   sealed file = "LDX1" | salt (16) | iv (12) | ciphertext | tag (16)
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync, type DecipherGCM } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'

const MAGIC = Buffer.from('LDX1')
const SALT = 16
const IV = 12
const TAG = 16
const HEADER = MAGIC.length + SALT + IV

export const sealedLength = (plainBytes: number) => HEADER + plainBytes + TAG

/** One key per passphrase and salt: scrypt is deliberately slow, an export has many files. */
export class Sealer {
  private readonly keys = new Map<string, Buffer>()
  constructor(private readonly passphrase: string) {}

  newSalt(): Buffer {
    return randomBytes(SALT)
  }

  private key(salt: Buffer): Buffer {
    const id = salt.toString('hex')
    let k = this.keys.get(id)
    if (!k) {
      k = scryptSync(this.passphrase, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
      this.keys.set(id, k)
    }
    return k
  }

  newIv(): Buffer {
    return randomBytes(IV)
  }

  /** A stream that turns plaintext into a sealed file (the same salt, iv and input seal the same bytes). */
  seal(salt: Buffer, iv: Buffer = this.newIv()): Transform {
    const cipher = createCipheriv('aes-256-gcm', this.key(salt), iv)
    let started = false
    return new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        if (!started) {
          started = true
          this.push(Buffer.concat([MAGIC, salt, iv]))
        }
        done(null, cipher.update(chunk))
      },
      flush(done: TransformCallback) {
        if (!started) this.push(Buffer.concat([MAGIC, salt, iv]))
        this.push(cipher.final())
        done(null, cipher.getAuthTag())
      },
    })
  }

  /** A stream that opens a sealed file; it errors when the file was changed or the pass is wrong. */
  open(): Transform {
    let head = Buffer.alloc(0)
    let decipher: DecipherGCM | undefined
    let tail = Buffer.alloc(0) // the last TAG bytes seen so far: the tag, once the stream ends
    const key = (salt: Buffer) => this.key(salt)
    const feed = (t: Transform, data: Buffer) => {
      const all = Buffer.concat([tail, data])
      const keep = Math.min(TAG, all.length)
      tail = all.subarray(all.length - keep)
      const body = all.subarray(0, all.length - keep)
      if (body.length) t.push(decipher!.update(body))
    }
    return new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        try {
          if (!decipher) {
            head = Buffer.concat([head, chunk])
            if (head.length < HEADER) return done()
            if (!head.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a sealed file (bad magic)')
            const salt = head.subarray(MAGIC.length, MAGIC.length + SALT)
            const iv = head.subarray(MAGIC.length + SALT, HEADER)
            decipher = createDecipheriv('aes-256-gcm', key(salt), iv)
            chunk = head.subarray(HEADER)
          }
          feed(this, chunk)
          done()
        } catch (e) {
          done(e as Error)
        }
      },
      flush(done: TransformCallback) {
        try {
          if (!decipher || tail.length < TAG) throw new Error('sealed file is truncated')
          decipher.setAuthTag(tail)
          done(null, decipher.final())
        } catch (e) {
          done(
            new Error(
              `sealed file failed authentication (changed, truncated or a wrong pass): ${(e as Error).message}`,
            ),
          )
        }
      },
    })
  }
}
