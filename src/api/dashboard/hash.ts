// Dashboard passwords are stored as scrypt hashes (node:crypto) with a random 16-byte salt; the parameters are
// stored beside each hash, so that stronger ones can come later without locking anyone out.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { CulexError } from '../../errors.js'

export interface PasswordHash { password_hash: string, salt: string, kdf: string }

// N = 2^15, r = 8: about 32 MB and some tens of milliseconds per hash (OWASP's lower bound is N = 2^17 with
// r = 8, p = 1 for interactive logins on a server of its own; a broker shares its cores with MQTT traffic).
const KDF = 'scrypt:32768:8:1'
const KEY_LENGTH = 32

/** The scrypt parameters of a stored `kdf` string; undefined for one this version does not know. */
function parseKdf (kdf: string): ScryptOptions | undefined {
  const m = /^scrypt:(\d+):(\d+):(\d+)$/.exec(kdf)
  if (!m) return undefined
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  return { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }
}

// scrypt runs on libuv's thread pool (4 threads), which file and DNS work share: a flood of logins runs two
// hashes at a time and queues at most QUEUE_LIMIT more, answering the rest 503 at once.
const PARALLEL = 2
const QUEUE_LIMIT = 64
let running = 0
const waiting: (() => void)[] = []

async function derive (password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  if (running >= PARALLEL) {
    if (waiting.length >= QUEUE_LIMIT) throw new CulexError('CULEX_ERR_API_UNAVAILABLE', 'too many dashboard password checks in progress; try again')
    await new Promise<void>((resolve) => waiting.push(resolve))
  }
  running++
  try {
    return await new Promise((resolve, reject) => {
      scrypt(password, salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)))
    })
  } finally {
    running--
    waiting.shift()?.()
  }
}

export async function hashPassword (password: string): Promise<PasswordHash> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, parseKdf(KDF)!)
  return { password_hash: key.toString('hex'), salt: salt.toString('hex'), kdf: KDF }
}

/** Whether `password` matches; a hash with unknown parameters matches nothing. */
export async function verifyPassword (stored: PasswordHash, password: string): Promise<boolean> {
  const options = parseKdf(stored.kdf)
  if (!options) return false
  const expected = Buffer.from(stored.password_hash, 'hex')
  const key = await derive(password, Buffer.from(stored.salt, 'hex'), options)
  return key.length === expected.length && timingSafeEqual(key, expected)
}

let decoy: Promise<PasswordHash> | undefined

/** A hash no password is known for: a login for an unknown user name costs as much as a wrong password. */
export function decoyHash (): Promise<PasswordHash> {
  return (decoy ??= hashPassword(randomBytes(16).toString('hex')))
}
