// authentication: EMQX's `authentication = [ ... ]`, global or per listener.
import { z } from 'zod'
import { splitCommand } from '../../auth/backends/redis-command.js'
import { bool, int, parseDuration } from '../types.js'
import { httpConnectionShape, postgresConnectionShape, redisClusterShape, redisSentinelShape, redisSingleShape } from './backends.js'

// EMQX 5.8 takes verify_claims as a map or as a list of { name, value }; exp, iat and nbf are checked anyway.
const verifyClaims = z.union([
  z.record(z.string(), z.string()),
  z.array(z.strictObject({ name: z.string(), value: z.string() })).transform((list) => Object.fromEntries(list.map(({ name, value }) => [name, value]))),
]).default({}).superRefine((claims, ctx) => {
  for (const name of Object.keys(claims)) {
    if (name === '' || name === 'exp' || name === 'iat' || name === 'nbf') ctx.addIssue({ code: 'custom', message: `verify_claims cannot name ${name === '' ? 'an empty claim' : name} (exp, iat and nbf are always checked)` })
  }
}).describe('Claims that must equal these values, as a map { sub = "${clientid}" } or a list [{ name = sub, value = "${clientid}" }]; ${clientid} and ${username} expand. A claim holding an array (aud) matches when one of its members equals the value.')

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
  verify_claims: verifyClaims,
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
])

const passwordHashAlgorithmDoc = 'How passwords are hashed: { name = sha256, salt_position = prefix }, { name = bcrypt, salt_rounds = 10 }, { name = pbkdf2, mac_fun = sha256, iterations = 4096 }.'
const passwordHashAlgorithmRo = () => passwordHashAlgorithm.prefault({ name: 'sha256', salt_position: 'prefix' })
  .describe('How the stored hashes were made: { name = sha256, salt_position = prefix } (plain, md5, sha, sha256, sha512 with prefix, suffix or disable), { name = bcrypt }, { name = pbkdf2, mac_fun = sha256, iterations = 4096 }.')

const enable = () => bool().default(true).describe('Whether this authenticator is asked.')

/** http(s) URL, checked at load time as EMQX does; its path and query may hold placeholders. */
const httpUrl = z.string().min(1).superRefine((v, ctx) => {
  let url: URL | undefined
  try { url = new URL(v) } catch { /* below */ }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) ctx.addIssue({ code: 'custom', message: `expected an http:// or https:// URL, got ${JSON.stringify(v)}` })
  else if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'user info in the URL is not supported (send credentials in headers)' })
  else if (url.hash) ctx.addIssue({ code: 'custom', message: 'a #fragment is not supported' })
})

const DEFAULT_HTTP_HEADERS = { accept: 'application/json', 'cache-control': 'no-cache', connection: 'keep-alive', 'keep-alive': 'timeout=30, max=1000', 'content-type': 'application/json' }

const httpAuthenticator = z.strictObject({
  mechanism: z.literal('password_based'),
  backend: z.literal('http'),
  enable: enable(),
  method: z.enum(['get', 'post']).describe('HTTP method of the request.'),
  url: httpUrl.describe('URL of the authentication service; the path and query may hold ${clientid}, ${username}, ${password}, ${peerhost}, ${peerport}, ${cert_subject}, ${cert_common_name}, ${client_attrs.NAME} (URL-encoded).'),
  headers: z.record(z.string(), z.string()).default(DEFAULT_HTTP_HEADERS).describe('Request headers (values may hold placeholders); a GET sends no content-type; content-type application/json (default) or application/x-www-form-urlencoded says how the body is sent.'),
  body: z.record(z.string(), z.unknown()).optional().describe('Request body fields with placeholders: JSON or a form by content-type; for a GET they join the query string.'),
  ...httpConnectionShape,
}).superRefine((c, ctx) => {
  if (c.url.startsWith('https://') && !c.ssl.enable) ctx.addIssue({ code: 'custom', path: ['ssl', 'enable'], message: 'an https:// url needs ssl.enable = true (as EMQX)' })
  const type = Object.entries(c.headers).find(([k]) => k.trim().toLowerCase() === 'content-type')?.[1].split(';')[0]!.trim().toLowerCase()
  if (c.method === 'post' && type !== undefined && type !== 'application/json' && type !== 'application/x-www-form-urlencoded') {
    ctx.addIssue({ code: 'custom', path: ['headers', 'content-type'], message: `a POST body is sent as application/json or application/x-www-form-urlencoded, not ${type}` })
  }
})

/** EMQX's cmd check: HGET or HMGET of the fields password_hash (or password), salt, is_superuser. */
const redisCmd = z.string().superRefine((v, ctx) => {
  let args: string[]
  try { args = splitCommand(v) } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); return }
  const [name, key, ...fields] = args
  if (!name || !key) return void ctx.addIssue({ code: 'custom', message: 'expected a command such as "HMGET mqtt_user:${username} password_hash salt is_superuser"' })
  if (!['hget', 'hmget'].includes(name.toLowerCase())) ctx.addIssue({ code: 'custom', message: `the command must be HGET or HMGET, not ${name}` })
  const unknown = fields.filter((f) => !['password_hash', 'password', 'salt', 'is_superuser'].includes(f))
  if (unknown.length > 0) ctx.addIssue({ code: 'custom', message: `unknown fields ${unknown.join(', ')} (allowed: password_hash, password, salt, is_superuser)` })
  if (!fields.includes('password_hash') && !fields.includes('password')) ctx.addIssue({ code: 'custom', message: 'the command must read password_hash (or password)' })
}).describe('Redis command reading the user: HMGET (or HGET) of password_hash (or password), salt and is_superuser; the key may hold placeholders, e.g. "HMGET mqtt_user:${username} password_hash salt is_superuser".')

const redisAuthenticatorCommon = {
  mechanism: z.literal('password_based'),
  backend: z.literal('redis'),
  enable: enable(),
  cmd: redisCmd,
  password_hash_algorithm: passwordHashAlgorithmRo(),
}

const redisAuthenticator = z.discriminatedUnion('redis_type', [
  z.strictObject({ ...redisAuthenticatorCommon, ...redisSingleShape }),
  z.strictObject({ ...redisAuthenticatorCommon, ...redisSentinelShape }),
  z.strictObject({ ...redisAuthenticatorCommon, ...redisClusterShape }),
])

const postgresAuthenticator = z.strictObject({
  mechanism: z.literal('password_based'),
  backend: z.literal('postgresql'),
  enable: enable(),
  query: z.string().min(1).describe('SQL selecting password_hash (or password), salt and is_superuser of one user; ${username} and the other placeholders are sent as bound parameters, e.g. "SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} LIMIT 1".'),
  password_hash_algorithm: passwordHashAlgorithmRo(),
  ...postgresConnectionShape,
})

export const passwordAuthenticator = z.strictObject({
  mechanism: z.literal('password_based'),
  backend: z.literal('built_in_database'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
  user_id_type: z.enum(['username', 'clientid']).default('username').describe('CONNECT field looked up as the user_id.'),
  password_hash_algorithm: passwordHashAlgorithm.prefault({ name: 'sha256', salt_position: 'prefix' }).describe(passwordHashAlgorithmDoc),
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
const passwordBased = z.discriminatedUnion('backend', [passwordAuthenticator, httpAuthenticator, redisAuthenticator, postgresAuthenticator])

export const AUTHENTICATOR_SCHEMAS = [jwtAuthenticator, certAuthenticator, passwordBased, scramAuthenticator] as const

export const authenticationList = z.array(z.discriminatedUnion('mechanism', AUTHENTICATOR_SCHEMAS))

export type AuthenticatorConfig = z.output<typeof authenticationList>[number]
export type JwtAuthenticatorConfig = z.output<typeof jwtAuthenticator>
export type PasswordAuthenticatorConfig = z.output<typeof passwordAuthenticator>
export type HttpAuthenticatorConfig = z.output<typeof httpAuthenticator>
export type RedisAuthenticatorConfig = z.output<typeof redisAuthenticator>
export type PostgresAuthenticatorConfig = z.output<typeof postgresAuthenticator>
export type ScramAuthenticatorConfig = z.output<typeof scramAuthenticator>
