// `culex certs ...` end to end: through src/broker.ts (spawned with tsx) and runCertsCli in-process.
import { stat, readFile, writeFile } from 'node:fs/promises'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createCa, issueServer, runCertsCli, verifyChain } from '../../src/certs/index.js'
import { Broker } from '../../src/index.js'
import { memoryLog } from '../helpers.js'
import { handshake } from '../listeners/tls-helpers.js'
import { hasOpenssl, openssl, run, tempDir, writeFiles } from './pki.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const culex = (...args: string[]) => run(process.execPath, ['--import=tsx', 'src/broker.ts', ...args], { cwd: ROOT })

/** runCertsCli with captured output. */
async function certs (...argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runCertsCli(argv, { out: (s) => { out += s }, err: (s) => { err += s } })
  return { code, out, err }
}

const FILES = ['ca.pem', 'ca.key', 'server.pem', 'server.key', 'client.pem', 'client.key']

t.test('culex certs init writes six files, keys 0600, and refuses to overwrite them', async (t) => {
  const dir = await tempDir(t)
  const first = await culex('certs', 'init', '--dir', dir)
  t.equal(first.code, 0, first.stderr)
  for (const name of FILES) {
    const mode = (await stat(join(dir, name))).mode & 0o777
    t.equal(mode, name.endsWith('.key') ? 0o600 : 0o644, `${name} mode ${mode.toString(8)}`)
    t.match(first.stdout, `wrote ${join(dir, name)}`)
  }
  const read = (name: string) => readFile(join(dir, name), 'utf8')
  const [ca, server, client] = await Promise.all([read('ca.pem'), read('server.pem'), read('client.pem')])
  t.equal(server.match(/BEGIN CERTIFICATE/g)?.length, 1, 'server.pem is the server certificate alone')
  t.equal(verifyChain({ caPem: ca, certPem: server }).ok, true)
  t.equal(verifyChain({ caPem: ca, certPem: client }).ok, true)
  const s = new X509Certificate(server)
  t.equal(s.subject, 'CN=localhost')
  t.equal(s.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')
  t.equal(new X509Certificate(client).subject, 'CN=client')
  t.ok(s.checkPrivateKey(createPrivateKey(await read('server.key'))), 'server.key belongs to server.pem')

  const again = await culex('certs', 'init', '--dir', dir)
  t.equal(again.code, 1)
  t.match(again.stderr, `${join(dir, 'ca.pem')}`)
  t.match(again.stderr, /already exist; nothing written \(use --force to overwrite\)/)
  t.equal(await read('ca.pem'), ca, 'untouched')

  const forced = await certs('init', '--dir', dir, '--force')
  t.equal(forced.code, 0, forced.err)
  t.not(await read('ca.pem'), ca, 'a new CA')
  t.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600)
})

t.test('help, unknown commands and missing options', async (t) => {
  const help = await culex('--help')
  t.equal(help.code, 0)
  t.match(help.stdout, /culex certs <command>/)
  const certsHelp = await certs('--help')
  t.equal(certsHelp.code, 0)
  for (const command of ['init', 'ca', 'server', 'client', 'inspect', 'verify']) t.match(certsHelp.out, new RegExp(`^  ${command} `, 'm'))
  const serverHelp = await certs('server', '--help')
  t.equal(serverHelp.code, 0)
  t.match(serverHelp.out, /--san NAME_OR_IP/)
  t.match(serverHelp.out, /--chain/)

  t.match(await certs('frobnicate'), { code: 2, err: /unknown command frobnicate/ })
  t.match(await certs('server', '--ca', 'x.pem'), { code: 2, err: /missing --cn NAME/ })
  t.match(await certs('server', '--cn', 'x', '--ca-key', 'k'), { code: 2, err: /missing --ca FILE/ })
  t.match(await certs('ca', '--cn', 'x', '--bogus'), { code: 2, err: /Unknown option '--bogus'/ })
  t.match(await certs('ca', '--cn', 'x', '--key', 'dsa'), { code: 2, err: /--key must be one of rsa2048, ec256, ec384/ })
  t.match(await certs('ca', '--cn', 'x', '--days', 'ten'), { code: 2, err: /--days must be a whole number/ })
  t.match(await certs('ca', '--cn', 'x', '--issuer-cert', 'a.pem'), { code: 2, err: /--issuer-cert and --issuer-key go together/ })
  t.match(await certs('verify', '--ca', 'ca.pem'), { code: 2, err: /missing --cert FILE/ })
  t.match(await certs('inspect'), { code: 2, err: /missing FILE/ })
  t.match(await certs('inspect', '/nonexistent/x.pem'), { code: 1, err: /cannot read the file \/nonexistent\/x\.pem: no such file/ })
})

t.test('ca → intermediate → server --chain, then inspect and verify', { skip: hasOpenssl ? false : 'no openssl' }, async (t) => {
  const dir = await tempDir(t)
  const p = (name: string) => join(dir, name)
  t.equal((await certs('ca', '--cn', 'Root', '--out', p('root'))).code, 0)
  const inter = await certs('ca', '--cn', 'Inter', '--out', p('inter'), '--issuer-cert', p('root.pem'), '--issuer-key', p('root.key'), '--key-password', 's3cret', '--key', 'ec384')
  t.equal(inter.code, 0, inter.err)
  t.match(inter.out, /intermediate CA CN=Inter/)
  t.match(await certs('server', '--ca', p('inter.pem'), '--ca-key', p('inter.key'), '--cn', 'x', '--out', p('x')), { code: 2, err: /inter\.key is encrypted: give its password with --ca-key-password/ })
  const server = await certs('server', '--ca', p('inter.pem'), '--ca-key', p('inter.key'), '--ca-key-password', 's3cret',
    '--cn', 'mqtt.example.com', '--san', 'mqtt.example.com', '--san', '10.0.0.5,::1', '--chain', '--out', p('server'))
  t.equal(server.code, 0, server.err)
  t.match(await certs('server', '--ca', p('inter.pem'), '--ca-key', p('inter.key'), '--ca-key-password', 's3cret', '--cn', 'a', '--san', 'a b', '--out', p('bad')), { code: 2, err: /neither a DNS name nor an IP address/ })

  const ok = await certs('verify', '--ca', p('root.pem'), '--cert', p('server.pem'))
  t.same(ok, { code: 0, out: 'OK (CN=mqtt.example.com → CN=Inter → CN=Root)\n', err: '' })
  const sslVerify = await openssl('verify', '-CAfile', p('root.pem'), '-untrusted', p('server.pem'), p('server.pem'))
  t.equal(sslVerify.code, 0, sslVerify.stderr)

  const inspected = await certs('inspect', p('server.pem'))
  t.equal(inspected.code, 0)
  t.match(inspected.out, /2 certificates, no private key/)
  t.match(inspected.out, /SANs +DNS:mqtt\.example\.com, IP:10\.0\.0\.5, IP:::1/)
  t.match(inspected.out, /validity .*\(valid, 824 days left\)/)
  t.match(inspected.out, /key +EC P-256\n/)
  t.match(inspected.out, /key +EC P-384\n/)
  t.match(inspected.out, /Chain order: in order, leaf first: 2 certificates; the last is issued by CN=Root/)

  // A wrongly ordered bundle with its key, as people paste them.
  const [leafPem, interPem] = (await readFile(p('server.pem'), 'utf8')).split(/(?<=-----END CERTIFICATE-----\n)/)
  await writeFile(p('bundle.pem'), interPem! + leafPem! + await readFile(p('server.key'), 'utf8'))
  const bundle = await certs('inspect', p('bundle.pem'))
  t.match(bundle.out, /Chain order: NOT in order: the certificates are reversed/)
  t.match(bundle.out, /Private key: present \(EC P-256, does NOT match certificate 1; not shown\)/)
  t.notMatch(bundle.out, /PRIVATE KEY-----/)
})

t.test('an expired client certificate: verify says when, exit 1 through the culex entry point', async (t) => {
  const dir = await tempDir(t)
  const p = (name: string) => join(dir, name)
  t.equal((await certs('init', '--dir', dir)).code, 0)
  const issued = await certs('client', '--ca', p('ca.pem'), '--ca-key', p('ca.key'), '--cn', 'old', '--days', '1', '--start-days-ago', '10', '--out', p('old'))
  t.equal(issued.code, 0, issued.err)
  const result = await culex('certs', 'verify', '--ca', p('ca.pem'), '--cert', p('old.pem'))
  t.equal(result.code, 1)
  t.match(result.stdout, /old\.pem: CN=old expired on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n/)
  t.match(await certs('verify', '--ca', p('ca.pem'), '--cert', p('client.pem')), { code: 0, out: /^OK / })
  t.match(await certs('client', '--ca', p('ca.pem'), '--ca-key', p('ca.key'), '--cn', 'old', '--out', p('old')), { code: 1, err: /old\.pem, .*old\.key already exist/ })
})

t.test('the documented npx culex certs init works in a clone (the package\'s own bin, after npm run build)', async (t) => {
  const dir = await tempDir(t)
  const result = await run('npx', ['--no-install', 'culex', 'certs', 'init', '--dir', dir], { cwd: ROOT })
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, `wrote ${join(dir, 'ca.pem')}`)
})

t.test('culex certs import writes a managed bundle a listener serves on the first start (seed 003)', async (t) => {
  const dir = await tempDir(t)
  const ca = await createCa({ cn: 'Import CA', startDaysAgo: 40, days: 2000 })
  const leaf = await issueServer({ ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'], startDaysAgo: 40, days: 400 })
  const files = await writeFiles(dir, { 'chain.pem': leaf.certPem + ca.certPem, 'server.key': leaf.keyPem, 'ca.pem': ca.certPem })
  const dataDir = join(dir, 'data')
  const imported = await culex('certs', 'import', '--name', 'site', '--chain', files['chain.pem']!, '--key', files['server.key']!, '--ca', files['ca.pem']!, '--data-dir', dataDir)
  t.equal(imported.code, 0, imported.stderr)
  t.match(imported.stdout, /imported bundle site into .*certs\/global\/site/)
  t.equal((await stat(join(dataDir, 'certs', 'global', 'site', 'key.pem'))).mode & 0o777, 0o600, 'the key is 0600')

  const broker = new Broker({
    logger: memoryLog().log,
    config: {
      node: { data_dir: dataDir },
      listeners: { tcp: { default: { enable: false } }, ssl: { default: { bind: '127.0.0.1:0', ssl_options: { managed_certs: [{ bundle_name: 'site' }] } } } },
    },
  })
  await broker.start()
  t.teardown(() => broker.close())
  const served = await handshake(broker.port('ssl'), { servername: 'localhost' })
  t.equal(served.fingerprint, new X509Certificate(leaf.certPem).fingerprint256, 'the listener serves the imported certificate')
})

t.test('a certificate issued today: refused by the 30-day rule, accepted with the logged override', async (t) => {
  const dir = await tempDir(t)
  const ca = await createCa({ cn: 'Fresh CA', startDaysAgo: 40, days: 2000 })
  const leaf = await issueServer({ ca, cn: 'localhost', sans: ['localhost'], days: 90 })
  const files = await writeFiles(dir, { 'chain.pem': leaf.certPem + ca.certPem, 'server.key': leaf.keyPem })
  const args = ['certs', 'import', '--name', 'fresh', '--chain', files['chain.pem']!, '--key', files['server.key']!, '--data-dir', join(dir, 'data')]
  const refused = await culex(...args)
  t.equal(refused.code, 1)
  t.match(refused.stdout, /rule validity_window: .* less than 30 days ago: .*override the rule \(ignore_validity_window\)/)
  const accepted = await culex(...args, '--ignore-validity-window')
  t.equal(accepted.code, 0, accepted.stderr)
  t.match(accepted.stdout, /warning: rule validity_window overridden: /)
  const checked = await certs('check', '--chain', files['chain.pem']!, '--key', files['server.key']!, '--ignore-validity-window')
  t.equal(checked.code, 0)
  t.match(checked.out, /^OK\nwarning: rule validity_window overridden/)
})
