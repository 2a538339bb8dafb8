// authentication: EMQX's `authentication = [ ... ]`, global or per listener.
import { z } from 'zod'
import { bool, int, parseDuration } from '../types.js'

const jwtAuthenticator = z.strictObject({
  mechanism: z.literal('jwt'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
  from: z.enum(['password', 'username']).default('password').describe('CONNECT field that carries the token.'),
  use_jwks: bool().default(false).describe('Verify with keys fetched from a JWKS endpoint instead of a configured secret or key.'),
  algorithm: z.enum(['hmac-based', 'public-key']).default('hmac-based').describe('Without JWKS: hmac-based (HS256/384/512 with secret) or public-key (RS/PS/ES with public_key).'),
  secret: z.string().default('').describe('HMAC secret (hmac-based).'),
  secret_base64_encoded: bool().default(false).describe('The secret is base64: decode it before use.'),
  public_key: z.string().default('').describe('PEM public key (public-key).'),
  endpoint: z.string().default('').describe('JWKS URL (use_jwks = true).'),
  headers: z.record(z.string(), z.string()).default({ Accept: 'application/json' }).describe('HTTP headers sent to the JWKS endpoint.'),
  refresh_interval: z.union([z.number(), z.string()]).default(300).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v * 1000 : parseDuration(v)
    if (ms === undefined || ms <= 0) { ctx.addIssue({ code: 'custom', message: 'expected seconds or a duration' }); return z.NEVER }
    return ms
  }).describe('JWKS refresh interval: seconds, or a duration.'),
  ssl: z.strictObject({
    enable: bool().default(false),
    verify: z.enum(['verify_none', 'verify_peer']).default('verify_peer'),
    cacertfile: z.string().optional(),
    certfile: z.string().optional(),
    keyfile: z.string().optional(),
    server_name_indication: z.string().optional(),
  }).prefault({}).describe('TLS of the JWKS fetch (an https:// endpoint always uses TLS): verify = verify_peer | verify_none, cacertfile, certfile, keyfile (client certificate), server_name_indication ("disable" sends none).'),
  verify_claims: z.record(z.string(), z.string()).default({}).describe('Claims that must equal these values; ${clientid} and ${username} expand.'),
  acl_claim_name: z.string().default('acl').describe('Claim holding the client\'s ACL (old pub/sub/all lists or the new rule list).'),
  disconnect_after_expire: bool().default(true).describe('Disconnect the client when its token expires (MQTT 5: DISCONNECT 0x87).'),
})

const certAuthenticator = z.strictObject({
  mechanism: z.literal('cert'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
})

// EMQX's password_hash_algorithm: simple hashes with a salt position, bcrypt, pbkdf2.
const passwordHashAlgorithm = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.enum(['plain', 'md5', 'sha', 'sha256', 'sha512']),
    salt_position: z.enum(['prefix', 'suffix', 'disable']).default('prefix').describe('Where the salt goes: before or after the password, or none.'),
  }),
  z.strictObject({
    name: z.literal('bcrypt'),
    // As EMQX: clamped to 5..10.
    salt_rounds: int().default(10).transform((n) => Math.min(10, Math.max(5, n))).describe('bcrypt cost factor (5 to 10).'),
  }),
  z.strictObject({
    name: z.literal('pbkdf2'),
    mac_fun: z.enum(['md5', 'ripemd160', 'sha', 'sha224', 'sha256', 'sha384', 'sha512']).describe('PBKDF2 pseudorandom function.'),
    iterations: int().pipe(z.number().min(1)).describe('PBKDF2 iteration count.'),
    dk_length: int().pipe(z.number().min(1)).optional().describe('Derived key length in bytes; default the mac_fun output length.'),
  }),
]).prefault({ name: 'sha256', salt_position: 'prefix' })

export const passwordAuthenticator = z.strictObject({
  mechanism: z.literal('password_based'),
  backend: z.literal('built_in_database'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
  user_id_type: z.enum(['username', 'clientid']).default('username').describe('CONNECT field looked up as the user_id.'),
  password_hash_algorithm: passwordHashAlgorithm.describe('How passwords are hashed: { name = sha256, salt_position = prefix }, { name = bcrypt, salt_rounds = 10 }, { name = pbkdf2, mac_fun = sha256, iterations = 4096 }.'),
  bootstrap_file: z.string().default('').describe('Users imported at start when the store is empty: .csv with a header line, or .json (an array).'),
  bootstrap_type: z.enum(['plain', 'hash']).default('plain').describe('plain: the file has user_id,password[,is_superuser]; hash: user_id,password_hash,salt[,is_superuser].'),
})

export const scramAuthenticator = z.strictObject({
  mechanism: z.literal('scram'),
  backend: z.literal('built_in_database'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
  algorithm: z.enum(['sha256', 'sha512']).default('sha256').describe('SCRAM hash: sha256 serves Authentication Method SCRAM-SHA-256, sha512 SCRAM-SHA-512.'),
  iteration_count: int().pipe(z.number().min(1)).default(4096).describe('PBKDF2 iterations for the keys of users added from now on.'),
  bootstrap_file: z.string().default('').describe('Users (plain passwords: user_id,password[,is_superuser]) imported at start when the store is empty: .csv or .json.'),
})

/**
 * Every authenticator shape, discriminated on `mechanism`: a new mechanism (password_based, ...) is one
 * more member of this list.
 */
export const AUTHENTICATOR_SCHEMAS = [jwtAuthenticator, certAuthenticator, passwordAuthenticator, scramAuthenticator] as const

export const authenticationList = z.array(z.discriminatedUnion('mechanism', AUTHENTICATOR_SCHEMAS))

export type AuthenticatorConfig = z.output<typeof authenticationList>[number]
export type JwtAuthenticatorConfig = z.output<typeof jwtAuthenticator>
export type PasswordAuthenticatorConfig = z.output<typeof passwordAuthenticator>
export type ScramAuthenticatorConfig = z.output<typeof scramAuthenticator>
