// EMQX's password hashing (emqx_passwd): plain, md5, sha, sha256, sha512 with the salt before or after
// the password, bcrypt, and pbkdf2. Hashes are stored as EMQX stores them: lowercase hex, or bcrypt's
// `$2b$` string (which is also its salt).
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

export const SIMPLE_HASHES = ['plain', 'md5', 'sha', 'sha256', 'sha512'] as const
export const SALT_POSITIONS = ['prefix', 'suffix', 'disable'] as const
/** EMQX's list less md4, which OpenSSL 3 no longer offers. */
export const PBKDF2_MAC_FUNS = ['md5', 'ripemd160', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'] as const

export type HashAlgorithm =
  | { name: (typeof SIMPLE_HASHES)[number], salt_position: (typeof SALT_POSITIONS)[number] }
  | { name: 'bcrypt', salt_rounds: number }
  | { name: 'pbkdf2', mac_fun: (typeof PBKDF2_MAC_FUNS)[number], iterations: number, dk_length?: number | undefined }

export interface HashedPassword { passwordHash: string, salt: string }

const pbkdf2Async = promisify(pbkdf2)

/** bcryptjs, loaded on first use: only bcrypt-hashed passwords need it. */
const loadBcrypt = async () => (await import('bcryptjs')).default

/** Node's digest name for an EMQX hash name. */
const digestName = (name: string): string => (name === 'sha' ? 'sha1' : name)

/** A fresh salt as EMQX makes one: 32 hex digits; none for plain or salt_position = disable. */
function genSalt (algo: HashAlgorithm): string {
  if (algo.name === 'plain' || ('salt_position' in algo && algo.salt_position === 'disable')) return ''
  return randomBytes(16).toString('hex')
}

/** The hash of `password` with a known salt (simple hashes and pbkdf2) or bcrypt salt string. */
export async function hashWithSalt (algo: HashAlgorithm, salt: string, password: Buffer | string): Promise<string> {
  const pw = typeof password === 'string' ? Buffer.from(password) : password
  if (algo.name === 'bcrypt') return (await loadBcrypt()).hash(pw.toString('utf8'), salt)
  if (algo.name === 'pbkdf2') {
    const md = digestName(algo.mac_fun)
    const length = algo.dk_length ?? createHash(md).digest().length
    return (await pbkdf2Async(pw, salt, algo.iterations, length, md)).toString('hex')
  }
  const s = Buffer.from(salt)
  const data = algo.salt_position === 'prefix' ? Buffer.concat([s, pw]) : algo.salt_position === 'suffix' ? Buffer.concat([pw, s]) : pw
  return algo.name === 'plain' ? data.toString('utf8') : createHash(digestName(algo.name)).update(data).digest('hex')
}

/** Hashes a new password with a fresh salt. For bcrypt the salt stored is the hash, as in EMQX. */
export async function hashPassword (algo: HashAlgorithm, password: Buffer | string): Promise<HashedPassword> {
  if (algo.name === 'bcrypt') {
    const bcrypt = await loadBcrypt()
    const passwordHash = await hashWithSalt(algo, await bcrypt.genSalt(algo.salt_rounds), password)
    return { passwordHash, salt: passwordHash }
  }
  const salt = genSalt(algo)
  return { passwordHash: await hashWithSalt(algo, salt, password), salt }
}

/** Whether `password` matches the stored hash; hex hashes compare case-insensitively (EMQX). */
export async function checkPassword (algo: HashAlgorithm, salt: string, passwordHash: string, password: Buffer): Promise<boolean> {
  if (algo.name === 'bcrypt') {
    // A bcrypt hash carries its own salt and cost; bcryptjs throws on a malformed one.
    const bcrypt = await loadBcrypt()
    try {
      return await bcrypt.compare(password.toString('utf8'), passwordHash)
    } catch {
      // A malformed stored hash matches no password (the user's record is what is wrong, not the login).
      return false
    }
  }
  const computed = await hashWithSalt(algo, salt, password)
  return algo.name === 'plain' ? sameText(computed, passwordHash) : sameText(computed, passwordHash.toLowerCase())
}

function sameText (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
