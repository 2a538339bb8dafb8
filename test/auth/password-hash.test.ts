// EMQX's password hashes (src/auth/hash.ts) against vectors from independent implementations:
// python's hashlib for every simple hash × salt position and pbkdf2, RFC 6070, and the OpenBSD bcrypt suite.
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { checkPassword, hashPassword, hashWithSalt, type HashAlgorithm } from '../../src/auth/hash.js'
import { loadConfig } from '../../src/config/load.js'
import type { PasswordAuthenticatorConfig } from '../../src/config/schema.js'

const PY = `
import hashlib, json, sys
out = {}
for name in ['md5', 'sha1', 'sha256', 'sha512']:
    out[name] = {
        'prefix': hashlib.new(name, b'salt' + b'public').hexdigest(),
        'suffix': hashlib.new(name, b'public' + b'salt').hexdigest(),
        'disable': hashlib.new(name, b'public').hexdigest(),
    }
for mac in ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']:
    out['pbkdf2_' + mac] = hashlib.pbkdf2_hmac(mac, b'public', b'0123456789abcdef', 1000).hex()
out['pbkdf2_sha256_16'] = hashlib.pbkdf2_hmac('sha256', b'public', b'0123456789abcdef', 1000, 16).hex()
json.dump(out, sys.stdout)
`

let vectors: Record<string, Record<string, string> | string> | undefined
try {
  vectors = JSON.parse(execFileSync('python3', ['-c', PY], { encoding: 'utf8', timeout: 5000 })) as typeof vectors
} catch {
  vectors = undefined
}

const password = Buffer.from('public')

t.test('md5, sha, sha256, sha512 with the salt as prefix, suffix or none match hashlib', { skip: vectors ? false : 'python3 not available' }, async (t) => {
  for (const [name, py] of [['md5', 'md5'], ['sha', 'sha1'], ['sha256', 'sha256'], ['sha512', 'sha512']] as const) {
    for (const position of ['prefix', 'suffix', 'disable'] as const) {
      const algo: HashAlgorithm = { name, salt_position: position }
      const expected = (vectors![py] as Record<string, string>)[position]!
      t.equal(await hashWithSalt(algo, 'salt', password), expected, `${name} ${position}`)
      t.ok(await checkPassword(algo, 'salt', expected, password), `${name} ${position}: the right password`)
      t.notOk(await checkPassword(algo, 'salt', expected, Buffer.from('publiC')), `${name} ${position}: a wrong password`)
    }
  }
})

t.test('a known vector: sha256 of "salt" + "public" (as openssl dgst -sha256 prints it)', async (t) => {
  const expected = 'f2ef7f9aedb2c3b5040bc16691a1177758a92ad91e1ee77770215a332bf6099f'
  t.equal(await hashWithSalt({ name: 'sha256', salt_position: 'prefix' }, 'salt', password), expected)
  // EMQX compares hex hashes case-insensitively.
  t.ok(await checkPassword({ name: 'sha256', salt_position: 'prefix' }, 'salt', expected.toUpperCase(), password))
})

t.test('plain stores the password (with the salt where it is placed) and compares it exactly', async (t) => {
  t.equal(await hashWithSalt({ name: 'plain', salt_position: 'disable' }, '', password), 'public')
  t.equal(await hashWithSalt({ name: 'plain', salt_position: 'suffix' }, 'salt', password), 'publicsalt')
  t.ok(await checkPassword({ name: 'plain', salt_position: 'disable' }, '', 'public', password))
  t.notOk(await checkPassword({ name: 'plain', salt_position: 'disable' }, '', 'PUBLIC', password))
})

t.test('pbkdf2: RFC 6070 and hashlib for every mac_fun, dk_length default and given', async (t) => {
  t.equal(await hashWithSalt({ name: 'pbkdf2', mac_fun: 'sha', iterations: 4096, dk_length: 20 }, 'salt', 'password'),
    '4b007901b765489abead49d926f721d065a429c1', 'RFC 6070 vector 3')
  if (!vectors) return
  for (const [mac, py] of [['md5', 'md5'], ['sha', 'sha1'], ['sha224', 'sha224'], ['sha256', 'sha256'], ['sha384', 'sha384'], ['sha512', 'sha512']] as const) {
    const algo: HashAlgorithm = { name: 'pbkdf2', mac_fun: mac, iterations: 1000 }
    const expected = vectors[`pbkdf2_${py}`] as string
    t.equal(await hashWithSalt(algo, '0123456789abcdef', password), expected, `pbkdf2 ${mac}`)
    t.ok(await checkPassword(algo, '0123456789abcdef', expected, password))
    t.notOk(await checkPassword(algo, '0123456789abcdef', expected, Buffer.from('x')))
  }
  t.equal(await hashWithSalt({ name: 'pbkdf2', mac_fun: 'sha256', iterations: 1000, dk_length: 16 }, '0123456789abcdef', password),
    vectors.pbkdf2_sha256_16 as string, 'dk_length = 16')
})

t.test('bcrypt: the OpenBSD vector, and new hashes as $2b$ strings that are their own salt', async (t) => {
  const known = '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'
  t.equal(await hashWithSalt({ name: 'bcrypt', salt_rounds: 5 }, '$2a$05$CCCCCCCCCCCCCCCCCCCCC.', 'U*U'), known)
  t.ok(await checkPassword({ name: 'bcrypt', salt_rounds: 10 }, '', known, Buffer.from('U*U')), 'the cost comes from the hash')
  t.notOk(await checkPassword({ name: 'bcrypt', salt_rounds: 5 }, '', known, Buffer.from('U*V')))
  t.notOk(await checkPassword({ name: 'bcrypt', salt_rounds: 5 }, '', 'not-a-bcrypt-hash', password), 'a malformed hash is a mismatch')

  const made = await hashPassword({ name: 'bcrypt', salt_rounds: 5 }, 'public')
  t.match(made.passwordHash, /^\$2b\$05\$[./A-Za-z0-9]{53}$/)
  t.equal(made.salt, made.passwordHash)
  t.ok(await checkPassword({ name: 'bcrypt', salt_rounds: 5 }, made.salt, made.passwordHash, password))
})

t.test('new salts are 32 hex digits (none for plain or disable), different each time', async (t) => {
  const a = await hashPassword({ name: 'sha256', salt_position: 'suffix' }, 'public')
  const b = await hashPassword({ name: 'sha256', salt_position: 'suffix' }, 'public')
  t.match(a.salt, /^[0-9a-f]{32}$/)
  t.not(a.salt, b.salt)
  t.not(a.passwordHash, b.passwordHash)
  t.ok(await checkPassword({ name: 'sha256', salt_position: 'suffix' }, a.salt, a.passwordHash, password))
  t.equal((await hashPassword({ name: 'md5', salt_position: 'disable' }, 'public')).salt, '')
  t.same(await hashPassword({ name: 'plain', salt_position: 'disable' }, 'public'), { passwordHash: 'public', salt: '' })
  const p = await hashPassword({ name: 'pbkdf2', mac_fun: 'sha256', iterations: 10 }, 'public')
  t.match(p.salt, /^[0-9a-f]{32}$/)
  t.match(p.passwordHash, /^[0-9a-f]{64}$/)
})

t.test('the authentication entry in HOCON: EMQX defaults, bcrypt rounds clamped to 5..10, unknown names refused', async (t) => {
  const entry = (algo: string) => loadConfig({
    config: `authentication = [ { mechanism = password_based, backend = built_in_database${algo} } ]`,
    env: {},
  }).config.authentication[0] as PasswordAuthenticatorConfig
  const defaults = entry('')
  t.same(defaults.password_hash_algorithm, { name: 'sha256', salt_position: 'prefix' })
  t.equal(defaults.user_id_type, 'username')
  t.equal(defaults.bootstrap_type, 'plain')
  t.same(entry(', password_hash_algorithm { name = bcrypt, salt_rounds = 12 }').password_hash_algorithm, { name: 'bcrypt', salt_rounds: 10 })
  t.same(entry(', password_hash_algorithm { name = bcrypt, salt_rounds = 2 }').password_hash_algorithm, { name: 'bcrypt', salt_rounds: 5 })
  t.same(entry(', password_hash_algorithm { name = pbkdf2, mac_fun = sha512, iterations = 4096, dk_length = 32 }').password_hash_algorithm,
    { name: 'pbkdf2', mac_fun: 'sha512', iterations: 4096, dk_length: 32 })
  t.throws(() => entry(', password_hash_algorithm { name = sha3 }'), { code: 'CULEX_ERR_CONFIG_INVALID' })
  t.throws(() => entry(', password_hash_algorithm { name = pbkdf2, mac_fun = sha256 }'), { code: 'CULEX_ERR_CONFIG_INVALID' }, 'pbkdf2 needs iterations')
})
