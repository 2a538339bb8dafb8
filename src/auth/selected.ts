// What EMQX does with the row a Redis or PostgreSQL authenticator selected (emqx_authn_utils
// check_password_from_selected_map): password_hash (or password) and salt checked with the configured
// algorithm, is_superuser read as EMQX reads it. Outcomes: no password in CONNECT, or a wrong one → deny
// 0x86; a row without a hash → deny 0x87; the right password → ok. No record, or the backend failing →
// ignore (the next authenticator decides).
import type { AuthResult } from '../mqtt/hooks.js'
import { RC } from '../mqtt/reason-codes.js'
import { checkPassword, type HashAlgorithm } from './hash.js'

export const BAD_PASSWORD: AuthResult = { result: 'deny', reasonCode: RC.BAD_USER_NAME_OR_PASSWORD, reason: 'bad username or password' }

/** EMQX's to_bool: true, "true", 1, "1" and integers ≥ 1 (as numbers or text) are true; all else false. */
export function toBool (value: unknown): boolean {
  if (value === true) return true
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1
  if (typeof value === 'bigint') return value >= 1n
  if (Buffer.isBuffer(value)) return toBool(value.toString('utf8'))
  if (typeof value === 'string') return value === 'true' || (/^[+-]?\d+$/.test(value) && Number(value) >= 1)
  return false
}

const text = (value: unknown): string | undefined =>
  value === undefined || value === null ? undefined : Buffer.isBuffer(value) ? value.toString('utf8') : String(value)

/** Checks CONNECT's password against a selected record (column or field → value; absent ones left out). */
export async function checkSelected (algorithm: HashAlgorithm, selected: Record<string, unknown>, password: Buffer | undefined): Promise<AuthResult> {
  if (password === undefined) return BAD_PASSWORD
  const hash = text(selected.password_hash) ?? text(selected.password)
  if (hash === undefined) return { result: 'deny', reasonCode: RC.NOT_AUTHORIZED, reason: 'not authorized', detail: 'the user\'s record has no password_hash' }
  const ok = await checkPassword(algorithm, text(selected.salt) ?? '', hash, password)
  return ok ? { result: 'ok', isSuperuser: toBool(selected.is_superuser) } : BAD_PASSWORD
}

/**
 * EMQX's password_based flow over a backend that selects the user's record (redis, postgresql): `select`
 * reads it (undefined: no such user; it throws when the backend fails, which logs why), then checkSelected.
 */
export async function authenticateSelected (algorithm: HashAlgorithm, password: Buffer | undefined, select: (password: Buffer) => Promise<Record<string, unknown> | undefined>): Promise<AuthResult> {
  if (password === undefined) return BAD_PASSWORD
  let selected: Record<string, unknown> | undefined
  try {
    selected = await select(password)
  } catch (err) {
    return { result: 'ignore', reason: (err as Error).message, failed: true }
  }
  if (!selected) return { result: 'ignore', reason: 'no such user' }
  return checkSelected(algorithm, selected, password)
}
