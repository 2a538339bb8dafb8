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
