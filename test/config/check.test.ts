// culex check -c FILE: validates a configuration and the files it names, starts nothing, exits 0 or 2.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { run } from '../certs/pki.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const check = (file: string) => run(process.execPath, ['--import=tsx', 'src/broker.ts', 'check', '-c', file], { cwd: ROOT })

t.test('etc/base.hocon checks OK, from a fresh clone too (the start command makes its development certificates)', async (t) => {
  // A fresh install: etc/ as shipped, no certs/ yet.
  const etc = (name: string) => readFileSync(join(ROOT, 'etc', name), 'utf8')
  const dir = t.testdir({ etc: { 'base.hocon': etc('base.hocon'), 'acl.conf': etc('acl.conf') } })
  const r = await run(process.execPath, ['--import=tsx', join(ROOT, 'src/broker.ts'), 'check', '-c', 'etc/base.hocon'], { cwd: dir })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^listener ssl:default: certs\/server\.pem does not exist yet: culex start creates development certificates in .*certs \(npx culex certs init\)$/m)
  t.match(r.stdout, /^OK: etc\/base\.hocon$/m)
  t.notOk(existsSync(join(dir, 'certs')), 'the check made no certificates')
})

t.test('every error is listed with file:line:column, keys without effect are named, nothing is started or written', async (t) => {
  const dir = t.testdir({
    'culex.hocon': [
      'node.data_dir = "data"',
      'mqtt {',
      '  strict_mode = true',
      '  no_such_key = 1',
      '}',
      '',
    ].join('\n'),
    'tls.hocon': [
      'listeners.ssl.default { bind = "127.0.0.1:0", ssl_options { certfile = "absent.pem" } }',
      'authorization.sources = [ { type = file, path = "absent-acl.conf" } ]',
      '',
    ].join('\n'),
    'ok.hocon': 'mqtt.strict_mode = true\n',
  })
  const unknown = await check(join(dir, 'culex.hocon'))
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, `culex check: ${join(dir, 'culex.hocon')}:4:17: unknown key mqtt.no_such_key`)

  const files = await check(join(dir, 'tls.hocon'))
  t.equal(files.code, 2)
  t.match(files.stderr, /culex check: listener ssl:default: ssl_options\.certfile absent\.pem: ENOENT/)
  t.match(files.stderr, /culex check: absent-acl\.conf: cannot read the ACL file/)

  const ok = await check(join(dir, 'ok.hocon'))
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, `${join(dir, 'ok.hocon')}:1:20: mqtt.strict_mode: accepted without effect:`)
  t.notOk(existsSync(join(dir, 'data')), 'no data directory made')
})

t.test('backends: their TLS files are read and their templates compiled, without waiting on the servers', async (t) => {
  const redis = 'mechanism = password_based, backend = redis, redis_type = single, server = "127.0.0.1:1", cmd = "HMGET mqtt_user:${username} password_hash", password_hash_algorithm { name = sha256, salt_position = suffix }'
  const dir = t.testdir({
    'absent-ca.hocon': `authentication = [ { ${redis}, ssl { enable = true, cacertfile = "absent-ca.pem" } } ]\n`,
    'servers-down.hocon': [
      'authentication = [',
      '  { mechanism = password_based, backend = http, method = post, url = "http://127.0.0.1:1/auth", body { username = "${username}", t = "${topic}" } }',
      `  { ${redis} }`,
      '  { mechanism = password_based, backend = postgresql, server = "127.0.0.1:1", database = mqtt, username = u, password = p, query = "SELECT password_hash FROM mqtt_user WHERE username = ${username} LIMIT 1", password_hash_algorithm { name = sha256, salt_position = suffix } }',
      ']',
      'authorization.sources = [ { type = http, method = post, url = "http://127.0.0.1:1/acl", body { t = "${topic}" } } ]',
      '',
    ].join('\n'),
  })
  const absent = await check(join(dir, 'absent-ca.hocon'))
  t.equal(absent.code, 2)
  t.match(absent.stderr, 'culex check: password_based:redis.ssl.cacertfile: cannot read absent-ca.pem: ENOENT')

  const down = await check(join(dir, 'servers-down.hocon'))
  t.equal(down.code, 0, down.stderr)
  t.match(down.stdout, /^password_based:http: placeholders not available to authentication are sent as written: \$\{topic\}$/m, 'a start-up warning is a notice')
  t.match(down.stdout, /^OK: /m)
})
