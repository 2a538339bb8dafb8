// `culex certs ...`: the CA, server and client certificates of the TLS docs without openssl.
import { randomBytes } from 'node:crypto'
import { access, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { CulexError } from '../errors.js'
import { checkBundle } from './check.js'
import { CertStore } from './store.js'
import { inspectPem, type CertificateInfo, type PemReport } from './inspect.js'
import { createCa, DEFAULT_CA_DAYS, DEFAULT_LEAF_DAYS, ekuOid, issueClient, issueServer, sanNames, type IssueOptions, type Issued, type IssuerInput } from './issue.js'
import { DEFAULT_KEY_TYPE, isEncryptedPem, isKeyType, KEY_TYPES } from './keys.js'
import { fullChain, parseCertificates } from './pem.js'
import { formatDate, verifyChain } from './verify.js'

export interface CliIo { out: (text: string) => void, err: (text: string) => void }

const processIo: CliIo = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) }

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>

interface Command {
  summary: string
  usage: string
  options: Options
  positionals?: boolean
  run: (values: Values, positionals: string[], io: CliIo) => Promise<number>
}

const HELP_OPTION: Options = { help: { type: 'boolean', short: 'h' } }

const KEY_OPTIONS: Options = {
  key: { type: 'string' },
  days: { type: 'string' },
  'start-days-ago': { type: 'string' },
  'key-password': { type: 'string' },
  force: { type: 'boolean' },
}

const ISSUE_OPTIONS: Options = { ...KEY_OPTIONS, cn: { type: 'string' }, out: { type: 'string' }, eku: { type: 'string', multiple: true } }

const LEAF_OPTIONS: Options = { ...ISSUE_OPTIONS, ca: { type: 'string' }, 'ca-key': { type: 'string' }, 'ca-key-password': { type: 'string' }, chain: { type: 'boolean' } }

const KEY_HELP = `  --key TYPE               ${KEY_TYPES.join(' | ')} (default ${DEFAULT_KEY_TYPE})
  --start-days-ago N       start the validity N days in the past (notAfter = start + days)
  --key-password P         encrypt the private key (PKCS#8, AES-256-CBC)
  --force                  overwrite existing files`
const ISSUE_HELP = `${KEY_HELP}
  --eku LIST               extended key usages, replacing the default: serverAuth,clientAuth,... or OIDs`
const LEAF_HELP = `  --ca FILE                issuing CA certificate (required)
  --ca-key FILE            issuing CA private key (required)
  --ca-key-password P      password of an encrypted CA key
  --chain                  append the intermediate CAs of --ca after the certificate (a fullchain.pem)
  --days N                 validity in days (default ${DEFAULT_LEAF_DAYS})
${ISSUE_HELP}`

const str = (values: Values, name: string) => values[name] as string | undefined

function required (values: Values, name: string, placeholder: string): string {
  const value = str(values, name)
  if (value === undefined || value === '') throw new UsageError(`missing --${name} ${placeholder}`)
  return value
}

function wholeNumber (values: Values, name: string, fallback: number | undefined, min: number): number | undefined {
  const value = str(values, name)
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${JSON.stringify(value)}`)
  return Number(value)
}

function issueOptions (values: Values, defaultDays: number): Omit<IssueOptions, 'cn'> {
  const key = str(values, 'key') ?? DEFAULT_KEY_TYPE
  if (!isKeyType(key)) throw new UsageError(`--key must be one of ${KEY_TYPES.join(', ')}, got ${JSON.stringify(key)}`)
  const eku = (values.eku as string[] | undefined)?.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
  for (const name of eku ?? []) usage(() => ekuOid(name))
  const password = str(values, 'key-password')
  if (password === '') throw new UsageError('--key-password must not be empty')
  return {
    key,
    days: wholeNumber(values, 'days', defaultDays, 1)!,
    startDaysAgo: wholeNumber(values, 'start-days-ago', 0, 0)!,
    ...(eku !== undefined ? { eku } : {}),
    ...(password !== undefined ? { keyPassword: password } : {}),
  }
}

/** Runs a validation that throws a plain Error and reports it as a usage error. */
function usage<T> (fn: () => T): T {
  try { return fn() } catch (err) { throw new UsageError((err as Error).message) }
}

async function readText (path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CulexError('CULEX_ERR_CERT_FILE', `cannot read the ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err })
  }
}

interface OutFile { path: string, content: string, secret: boolean, note: string }

const exists = (path: string) => access(path).then(() => true, () => false)

async function refuseExisting (paths: string[], force: boolean): Promise<void> {
  if (force) return
  const existing = (await Promise.all(paths.map(async (p) => (await exists(p)) ? p : null))).filter((p) => p !== null)
  if (existing.length > 0) throw new CulexError('CULEX_ERR_CERT_FILE', `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing written (use --force to overwrite)`)
}

async function writeAll (files: OutFile[], force: boolean, io: CliIo): Promise<void> {
  await refuseExisting(files.map((f) => f.path), force)
  for (const file of files) {
    await mkdir(dirname(file.path), { recursive: true })
    // Removed first so a key never inherits the looser mode of the file it replaces.
    // ENOENT is the usual case; any other failure shows on the exclusive write below (EEXIST, EACCES).
    if (force) await unlink(file.path).catch(() => {})
    await writeFile(file.path, file.content, { mode: file.secret ? 0o600 : 0o644, flag: 'wx' })
  }
  // Reported once everything is on disk: output piped into `head` may end the process at the first write.
  io.out(files.map((f) => `wrote ${f.path}${f.note ? `  ${f.note}` : ''}\n`).join(''))
}

function certNote (certPem: string, kind: string): string {
  const [cert] = parseCertificates(certPem)
  return `${kind} ${cert!.subject.split('\n').join(', ')}, valid until ${formatDate(new Date(cert!.validTo))}`
}

function outputs (out: string, issued: Issued, kind: string, certContent = issued.certPem): OutFile[] {
  return [
    { path: `${out}.pem`, content: certContent, secret: false, note: certNote(issued.certPem, kind) },
    { path: `${out}.key`, content: issued.keyPem, secret: true, note: 'private key (mode 0600)' },
  ]
}

/** The issuing CA from --<prefix> (certificate), --<prefix>-key and --<prefix>-key-password. */
async function loadIssuer (values: Values, prefix: 'ca' | 'issuer', certFile: string, keyFile: string): Promise<IssuerInput> {
  const password = str(values, `${prefix}-key-password`)
  const keyPem = await readText(keyFile, 'CA key')
  if (password === undefined && isEncryptedPem(keyPem)) throw new UsageError(`${keyFile} is encrypted: give its password with --${prefix}-key-password`)
  return {
    certPem: await readText(certFile, 'CA certificate'),
    keyPem,
    ...(password !== undefined ? { keyPassword: password } : {}),
  }
}

const init: Command = {
  summary: 'a CA, a server certificate (localhost, 127.0.0.1, ::1) and a client certificate',
  usage: `Usage: culex certs init [--dir certs] [options]

Writes ca.pem, ca.key, server.pem, server.key, client.pem and client.key into the directory:
a development CA, a server certificate for localhost, 127.0.0.1 and ::1, and a client certificate
with CN client. The file names are the defaults of the ssl listener's ssl_options.

Options:
  --dir DIR                output directory (default certs)
  --days N                 validity of the server and client certificates (default ${DEFAULT_LEAF_DAYS})
  --ca-days N              validity of the CA (default ${DEFAULT_CA_DAYS})
${KEY_HELP}
`,
  options: { ...KEY_OPTIONS, dir: { type: 'string' }, 'ca-days': { type: 'string' } },
  async run (values, _positionals, io) {
    const dir = str(values, 'dir') ?? 'certs'
    const common = issueOptions(values, DEFAULT_LEAF_DAYS)
    // Checked before the keys are generated, and again by writeAll.
    await refuseExisting(['ca.pem', 'ca.key', 'server.pem', 'server.key', 'client.pem', 'client.key'].map((n) => join(dir, n)), values.force === true)
    // A distinct CA name per run: two dev CAs with the same name make verification errors confusing.
    const ca = await createCa({ ...common, cn: `Culex Dev CA ${randomBytes(4).toString('hex')}`, days: wholeNumber(values, 'ca-days', DEFAULT_CA_DAYS, 1)! })
    const issuer: IssuerInput = { ...ca, ...(common.keyPassword !== undefined ? { keyPassword: common.keyPassword } : {}) }
    const server = await issueServer({ ...common, ca: issuer, cn: 'localhost', sans: ['localhost', '127.0.0.1', '::1'] })
    const client = await issueClient({ ...common, ca: issuer, cn: 'client' })
    await writeAll([
      ...outputs(join(dir, 'ca'), ca, 'CA'),
      ...outputs(join(dir, 'server'), server, 'server'),
      ...outputs(join(dir, 'client'), client, 'client'),
    ], values.force === true, io)
    io.out(`
TLS listener (these paths are the defaults of listeners.ssl.<name>.ssl_options when --dir is certs):
  cacertfile = "${join(dir, 'ca.pem')}", certfile = "${join(dir, 'server.pem')}", keyfile = "${join(dir, 'server.key')}"
Try it: mosquitto_sub -h localhost -p 8883 --cafile ${join(dir, 'ca.pem')} --cert ${join(dir, 'client.pem')} --key ${join(dir, 'client.key')} -t '#'
`)
    return 0
  },
}

const ca: Command = {
  summary: 'a root CA, or an intermediate CA signed by --issuer-cert/--issuer-key',
  usage: `Usage: culex certs ca --cn NAME [--out certs/ca] [options]

Writes <out>.pem (the CA certificate) and <out>.key (its private key).

Options:
  --cn NAME                common name of the CA (required)
  --out PATH               output path without extension (default certs/ca)
  --issuer-cert FILE       sign with this CA instead of self-signing: an intermediate CA
  --issuer-key FILE        private key of --issuer-cert
  --issuer-key-password P  password of an encrypted issuer key
  --path-len N             most CA levels allowed below this one (default 1 for a root, one less than the issuer's for an intermediate)
  --days N                 validity in days (default ${DEFAULT_CA_DAYS})
${ISSUE_HELP}
`,
  options: { ...ISSUE_OPTIONS, 'issuer-cert': { type: 'string' }, 'issuer-key': { type: 'string' }, 'issuer-key-password': { type: 'string' }, 'path-len': { type: 'string' } },
  async run (values, _positionals, io) {
    const cn = required(values, 'cn', 'NAME')
    const common = issueOptions(values, DEFAULT_CA_DAYS)
    const pathLen = wholeNumber(values, 'path-len', undefined, 0)
    const issuerCert = str(values, 'issuer-cert')
    const issuerKey = str(values, 'issuer-key')
    if ((issuerCert === undefined) !== (issuerKey === undefined)) throw new UsageError('--issuer-cert and --issuer-key go together')
    const issuer = issuerCert === undefined ? undefined : await loadIssuer(values, 'issuer', issuerCert, issuerKey!)
    const issued = await createCa({ ...common, cn, ...(issuer ? { issuer } : {}), ...(pathLen !== undefined ? { pathLen } : {}) })
    await writeAll(outputs(str(values, 'out') ?? 'certs/ca', issued, issuer ? 'intermediate CA' : 'root CA'), values.force === true, io)
    return 0
  },
}

function leafCommand (kind: 'server' | 'client'): Command {
  const server = kind === 'server'
  return {
    summary: `a ${kind} certificate signed by a CA`,
    usage: `Usage: culex certs ${kind} --ca CA.pem --ca-key CA.key --cn NAME${server ? ' --san NAME_OR_IP ...' : ''} [--out certs/${kind}] [options]

Writes <out>.pem (the certificate) and <out>.key (its private key). Default extended key usage: ${server ? 'serverAuth' : 'clientAuth'}.

Options:
  --cn NAME                common name (required)${server ? `
  --san NAME_OR_IP         a DNS name or an IP address the server answers to; repeat it (default: the CN)` : ''}
  --out PATH               output path without extension (default certs/${kind})
${LEAF_HELP}
`,
    options: { ...LEAF_OPTIONS, ...(server ? { san: { type: 'string', multiple: true } } : {}) },
    async run (values, _positionals, io) {
      const cn = required(values, 'cn', 'NAME')
      const common = issueOptions(values, DEFAULT_LEAF_DAYS)
      const sans = (values.san as string[] | undefined)?.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
      if (sans !== undefined) usage(() => sanNames(sans))
      const issuer = await loadIssuer(values, 'ca', required(values, 'ca', 'FILE'), required(values, 'ca-key', 'FILE'))
      const issued = server
        ? await issueServer({ ...common, cn, ca: issuer, ...(sans !== undefined ? { sans } : {}) })
        : await issueClient({ ...common, cn, ca: issuer })
      const content = values.chain === true ? fullChain(issued.certPem, issuer.certPem) : issued.certPem
      await writeAll(outputs(str(values, 'out') ?? `certs/${kind}`, issued, kind, content), values.force === true, io)
      return 0
    },
  }
}

/** Seed 001's device certificate: the certificate, its PKCS#8 key and the chain file (device, then CA). */
const device: Command = {
  summary: 'a device certificate for the device registry, with its chain file (device first, then the CA)',
  usage: `Usage: culex certs device --ca CA.pem --ca-key CA.key --cn NAME [--out certs/device] [options]

Writes <out>.pem (the device certificate), <out>.key (its private key, PKCS#8) and <out>_chain.pem
(the device certificate followed by the CA, the order seed 001's devices present). Register the CA
first (POST /api/v5/ca_certs); the device is registered on its first connection to a listener with
ssl_options.device_registry = true, and its serial (printed) is the key of /api/v5/device_certs.

Options:
  --cn NAME                common name (required)
  --out PATH               output path without extension (default certs/device)
${LEAF_HELP}
`,
  options: LEAF_OPTIONS,
  async run (values, _positionals, io) {
    const cn = required(values, 'cn', 'NAME')
    const common = issueOptions(values, DEFAULT_LEAF_DAYS)
    const issuer = await loadIssuer(values, 'ca', required(values, 'ca', 'FILE'), required(values, 'ca-key', 'FILE'))
    const issued = await issueClient({ ...common, cn, ca: issuer })
    const out = str(values, 'out') ?? 'certs/device'
    const caPems = parseCertificates(issuer.certPem).map((c) => c.toString())
    const serial = parseCertificates(issued.certPem)[0]!.serialNumber.toUpperCase()
    await writeAll([
      ...outputs(out, issued, 'device'),
      { path: `${out}_chain.pem`, content: [issued.certPem.trimEnd(), ...caPems.map((p) => p.trimEnd())].join('\n') + '\n', secret: false, note: 'chain: device, then CA' },
    ], values.force === true, io)
    io.out(`device serial ${serial}\n`)
    return 0
  },
}

function validityLine (c: CertificateInfo): string {
  const range = `${formatDate(c.notBefore)} → ${formatDate(c.notAfter)}`
  if (c.state === 'expired') return `${range} (EXPIRED ${-c.daysLeft} days ago)`
  if (c.state === 'not yet valid') return `${range} (NOT YET VALID)`
  return `${range} (valid, ${c.daysLeft} days left)`
}

function formatReport (file: string, report: PemReport): string {
  const lines: string[] = []
  const { certificates: certs, privateKeys: keys } = report
  lines.push(`${file}: ${certs.length} certificate${certs.length === 1 ? '' : 's'}, ${keys.length === 0 ? 'no private key' : 'a private key'}`)
  certs.forEach((c, i) => {
    lines.push('', `Certificate ${i + 1}${c.selfSigned ? ' (self-signed)' : ''}`)
    const row = (label: string, value: string) => lines.push(`  ${label.padEnd(12)} ${value}`)
    row('subject', c.subject)
    row('issuer', c.issuer)
    if (c.sans.length > 0) row('SANs', c.sans.join(', '))
    row('validity', validityLine(c))
    row('key', c.key)
    row('CA', c.isCa ? `yes${c.pathLen !== undefined ? ` (pathLen ${c.pathLen})` : ''}` : 'no')
    if (c.keyUsage.length > 0) row('key usage', c.keyUsage.join(', '))
    if (c.extendedKeyUsage.length > 0) row('ext. usage', c.extendedKeyUsage.join(', '))
    row('serial', c.serial)
    row('SHA-256', c.fingerprint256)
  })
  if (certs.length > 0) lines.push('', `Chain order: ${report.chain.verdict}`)
  for (const k of keys) {
    const match = k.matchesFirst === undefined ? '' : k.matchesFirst ? ', matches certificate 1' : ', does NOT match certificate 1'
    lines.push(`Private key: present (${k.encrypted ? 'encrypted' : `${k.key ?? 'unreadable'}${match}`}; not shown)`)
  }
  return lines.join('\n') + '\n'
}

const inspect: Command = {
  summary: 'a readable summary of the certificates and keys in PEM files',
  usage: `Usage: culex certs inspect FILE...

Prints each certificate (subject, issuer, SANs, validity with days left, key, usages, serial,
SHA-256 fingerprint), whether the certificates are in chain order (leaf first) and whether the
file holds a private key (never printed).
`,
  options: {},
  positionals: true,
  async run (_values, positionals, io) {
    if (positionals.length === 0) throw new UsageError('missing FILE')
    for (const [i, file] of positionals.entries()) {
      const report = inspectPem(await readText(file, 'file'))
      if (report.certificates.length === 0 && report.privateKeys.length === 0) throw new CulexError('CULEX_ERR_CERT_FILE', `${file} holds no PEM certificate or private key`)
      io.out((i > 0 ? '\n' : '') + formatReport(file, report))
    }
    return 0
  },
}

const verify: Command = {
  summary: 'check that a certificate chains to a CA (like openssl verify -CAfile)',
  usage: `Usage: culex certs verify --ca CA.pem --cert CERT.pem

Builds the path from the certificate through intermediates (after it in CERT.pem, or in CA.pem)
to a self-signed root in CA.pem, checking names, signatures and validity dates.
Prints OK and exits 0, or prints the reason and exits 1.
`,
  options: { ca: { type: 'string' }, cert: { type: 'string' } },
  async run (values, _positionals, io) {
    const caFile = required(values, 'ca', 'FILE')
    const certFile = required(values, 'cert', 'FILE')
    const result = verifyChain({ caPem: await readText(caFile, 'CA file'), certPem: await readText(certFile, 'certificate file') })
    io.out(result.ok ? `OK (${result.path.join(' → ')})\n` : `${certFile}: ${result.reason}\n`)
    return result.ok ? 0 : 1
  },
}

const check: Command = {
  summary: 'check a key, chain and CA against the import rules of managed certificate bundles',
  usage: `Usage: culex certs check --key KEY.pem --chain CHAIN.pem [--ca CA.pem] [--key-password P]

Applies the rules a certificate bundle upload must pass (seed 000): PEM only; X.509 v3; RSA 2048
(RSA 1024 with a warning) or EC P-256/P-384; a PKCS#1 or PKCS#8 key, decrypted with --key-password
when encrypted; the key matches the first certificate of the chain; the chain is leaf first, each
certificate issued by the next, and ends at a self-signed root or a CA in CA.pem; the leaf's key type
(RSA or EC) is its signing CA's; the leaf has a DNS or IP subjectAltName and is not within 30 days of
its notBefore or notAfter. A partial bundle (only --chain, only --key, ...) is checked as far as it can be.
Prints OK (and any warnings) and exits 0, or the rule the bundle breaks and exits 1.

Options:
  --key FILE               the private key
  --chain FILE             the certificate, then its intermediate CAs
  --ca FILE                the CA certificate(s) the chain ends at
  --key-password P         password of an encrypted key
  --ignore-validity-window accept a certificate issued or expiring within 30 days (with a warning)
`,
  options: { key: { type: 'string' }, chain: { type: 'string' }, ca: { type: 'string' }, 'key-password': { type: 'string' }, 'ignore-validity-window': { type: 'boolean' } },
  async run (values, _positionals, io) {
    const files = { key: str(values, 'key'), chain: str(values, 'chain'), ca: str(values, 'ca') }
    if (Object.values(files).every((f) => f === undefined || f === '')) throw new UsageError('give --key FILE and --chain FILE (and --ca FILE)')
    const read = (file: string | undefined, what: string) => (file === undefined ? undefined : readText(file, what))
    const [keyPem, chainPem, caPem] = await Promise.all([read(files.key, 'key file'), read(files.chain, 'chain file'), read(files.ca, 'CA file')])
    try {
      const { warnings } = checkBundle({ keyPem, chainPem, caPem, keyPassword: str(values, 'key-password'), ignoreValidityWindow: values['ignore-validity-window'] === true })
      io.out(['OK', ...warnings.map((w) => `warning: ${w}`)].join('\n') + '\n')
      return 0
    } catch (err) {
      if (!(err instanceof CulexError) || err.code !== 'CULEX_ERR_CERT_INVALID') throw err
      io.out(`${err.message}\n`)
      return 1
    }
  },
}

const importBundle: Command = {
  summary: 'import a key, chain and CA as a managed certificate bundle (listeners\' managed_certs)',
  usage: `Usage: culex certs import --name NAME --chain CHAIN.pem --key KEY.pem [--ca CA.pem] [options]

Checks the files against the import rules (those of culex certs check, and of the API's upload) and
writes them as the bundle NAME of the certificate store in DATA_DIR/certs, where a listener's
ssl_options.managed_certs { bundle_name = NAME } finds it on start. For a running broker, upload
through the API instead (POST /api/v5/certs/global/name/NAME): it reloads the listeners.

Options:
  --name NAME              the bundle name (letters, digits, '_', '.', '-')
  --namespace NS           the bundle's namespace (default: the global one)
  --chain FILE             the server certificate, then its intermediate CAs
  --key FILE               its private key (stored decrypted, mode 0600)
  --ca FILE                the CA certificate(s) trusted for client certificates
  --key-password P         password of an encrypted key
  --data-dir DIR           node.data_dir of the broker (default data)
  --ignore-validity-window accept a certificate issued or expiring within 30 days (with a warning)
`,
  options: {
    name: { type: 'string' }, namespace: { type: 'string' }, chain: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' },
    'key-password': { type: 'string' }, 'data-dir': { type: 'string' }, 'ignore-validity-window': { type: 'boolean' },
  },
  async run (values, _positionals, io) {
    const name = required(values, 'name', 'NAME')
    const [chain, key] = [required(values, 'chain', 'CHAIN.pem'), required(values, 'key', 'KEY.pem')]
    const caFile = str(values, 'ca')
    const upload = {
      chain: await readText(chain, 'chain file'),
      key: await readText(key, 'key file'),
      ...(caFile !== undefined ? { ca: await readText(caFile, 'CA file') } : {}),
      ...(str(values, 'key-password') !== undefined ? { key_password: str(values, 'key-password')! } : {}),
    }
    const ref = { namespace: str(values, 'namespace'), name }
    const store = new CertStore(str(values, 'data-dir') ?? 'data')
    try {
      const { warnings } = await store.put(ref, upload, { ignoreValidityWindow: values['ignore-validity-window'] === true })
      for (const warning of warnings) io.out(`warning: ${warning}\n`)
    } catch (err) {
      if (!(err instanceof CulexError) || err.code !== 'CULEX_ERR_CERT_INVALID') throw err
      io.out(`${err.message}\n`)
      return 1
    }
    io.out(`imported bundle ${name} into ${store.dir(ref)}\n`)
    return 0
  },
}

const COMMANDS: Record<string, Command> = { init, ca, server: leafCommand('server'), client: leafCommand('client'), device, inspect, verify, check, import: importBundle }

const HELP = `Usage: culex certs <command> [options]

Creates and checks certificates for TLS listeners, without openssl.

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`).join('\n')}

Run culex certs <command> --help for the options of a command.
`

export async function runCertsCli (argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) { io.err(HELP); return 2 }
  if (name === '--help' || name === '-h' || name === 'help') { io.out(HELP); return 0 }
  const command = COMMANDS[name]
  if (command === undefined) { io.err(`culex certs: unknown command ${name}\n\n${HELP}`); return 2 }
  try {
    const { values, positionals } = usage(() => parseArgs({ args: rest, options: { ...command.options, ...HELP_OPTION }, allowPositionals: command.positionals === true, strict: true }))
    if (values.help === true) { io.out(command.usage); return 0 }
    return await command.run(values, positionals, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`culex certs ${name}: ${err.message}\nRun culex certs ${name} --help for its options.\n`)
      return 2
    }
    io.err(`culex certs ${name}: ${(err as Error).message}\n`)
    return 1
  }
}
