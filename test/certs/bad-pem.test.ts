// Malformed PEM input (seed 000's rules): truncated base64, wrong or mismatched labels, DER garbage,
// a key where a certificate belongs and the reverse, and a megabyte of junk, given to the bundle check
// (API uploads and `culex certs check`) and to `culex certs inspect`. Each must end in a clear error
// or an empty report, never another exception and never a hang (a megabyte of BEGIN lines used to
// take seconds of blocked event loop: src/certs/pem.ts).
import { randomBytes, X509Certificate } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { CulexError } from '../../src/errors.js'
import { checkBundle, createCa, inspectPem, issueServer, runCertsCli, type BundleCheckInput } from '../../src/certs/index.js'
import { tempDir } from './pki.js'

const ca = await createCa({ cn: 'Bad PEM Root', startDaysAgo: 400, days: 3650 })
const leaf = await issueServer({ ca, cn: 'bad-pem.example.com', startDaysAgo: 40, days: 400 })
const MB = 1 << 20

/** The base64 lines of a PEM block. */
const bodyOf = (pem: string) => pem.trim().split('\n').slice(1, -1).join('')
const block = (label: string, body: string, endLabel = label) =>
  `-----BEGIN ${label}-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END ${endLabel}-----\n`
const certBody = bodyOf(leaf.certPem)
const der = new X509Certificate(leaf.certPem).raw

type Row = {
  name: string
  /** Which file of the bundle gets `text`; the others are the good ones. */
  file: 'chain' | 'key' | 'ca'
  text: string
  /** The bundle check's refusal (rule pem unless the message says otherwise). */
  check: RegExp
  /** inspect: an Error with this message, or the report's certificate and private key counts. */
  inspect: RegExp | { certificates: number, privateKeys: number }
}

const ROWS: Row[] = [
  { name: 'certificate cut off before its END line', file: 'chain', text: leaf.certPem.slice(0, 300),
    check: /^rule pem: chain is not PEM: it has no "-----BEGIN \.\.\.-----" block/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: 'base64 cut mid-quantum, END line kept', file: 'chain', text: block('CERTIFICATE', certBody.slice(0, 201)),
    check: /^rule pem: block 1 of chain \(CERTIFICATE\) is not valid base64: the file is damaged/, inspect: /^certificate 1 in the file cannot be parsed/ },
  { name: 'valid base64 of a truncated certificate', file: 'chain', text: block('CERTIFICATE', certBody.slice(0, 200)),
    check: /^rule pem: certificate 1 of chain cannot be parsed \(/, inspect: /^certificate 1 in the file cannot be parsed \(/ },
  { name: 'base64 of random bytes', file: 'ca', text: block('CERTIFICATE', randomBytes(600).toString('base64')),
    check: /^rule pem: certificate 1 of ca cannot be parsed \(/, inspect: /^certificate 1 in the file cannot be parsed \(/ },
  { name: 'BEGIN CERTIFICATE closed by END PRIVATE KEY', file: 'chain', text: block('CERTIFICATE', certBody, 'PRIVATE KEY'),
    check: /^rule pem: chain is not PEM/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: 'label X509 CERTIFICATE', file: 'chain', text: block('X509 CERTIFICATE', certBody),
    check: /^rule pem: chain holds a X509 CERTIFICATE block: chain holds only CERTIFICATE blocks/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: 'lower-case label', file: 'ca', text: block('certificate', bodyOf(ca.certPem)),
    check: /^rule pem: ca is not PEM/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: 'DER bytes instead of PEM', file: 'chain', text: der.toString('latin1'),
    check: /^rule pem: chain is not PEM: .*\(it looks like binary DER; convert it: openssl x509 -inform DER/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: 'DER bytes read as UTF-8', file: 'ca', text: der.toString('utf8'),
    check: /^rule pem: ca is not PEM: .*binary DER/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: 'private key where the certificate belongs', file: 'chain', text: leaf.keyPem,
    check: /^rule pem: chain holds a private key \(PRIVATE KEY\): give it as key/, inspect: { certificates: 0, privateKeys: 1 } },
  { name: 'certificate where the key belongs', file: 'key', text: leaf.certPem,
    check: /^rule pem: key holds no private key block \(found CERTIFICATE\)/, inspect: { certificates: 1, privateKeys: 0 } },
  { name: 'key block with a damaged body', file: 'key', text: block('PRIVATE KEY', bodyOf(leaf.keyPem).slice(0, 40)),
    check: /^rule key_format: the PRIVATE KEY block cannot be read as a PKCS#1 or PKCS#8 key/, inspect: { certificates: 0, privateKeys: 1 } },
  { name: 'empty file', file: 'ca', text: '',
    check: /^rule pem: ca is not PEM/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: '1 MB of random bytes', file: 'chain', text: randomBytes(MB).toString('latin1'),
    check: /^rule pem: chain is not PEM/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: '1 MB of base64', file: 'key', text: randomBytes(MB * 3 / 4).toString('base64'),
    check: /^rule pem: key is not PEM/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: '1 MB of BEGIN lines without END', file: 'chain', text: '-----BEGIN CERTIFICATE-----\n'.repeat(MB / 28),
    check: /^rule pem: chain is not PEM/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: '1 MB of empty blocks', file: 'chain', text: '-----BEGIN A-----\n-----END A-----\n'.repeat(MB / 34),
    check: /^rule pem: block 1 of chain \(A\) is not valid base64/, inspect: { certificates: 0, privateKeys: 0 } },
  { name: '1 MB of certificate blocks, all damaged', file: 'key', text: block('CERTIFICATE', 'MIIB').repeat(MB / 60),
    check: /^rule pem: key holds no private key block \(found CERTIFICATE\)$/, inspect: /^certificate 1 in the file cannot be parsed/ },
]

const good: BundleCheckInput = { keyPem: leaf.keyPem, chainPem: leaf.certPem, caPem: ca.certPem }

t.test('the good bundle passes (control)', async (t) => {
  t.same(checkBundle(good).warnings, [])
})

t.test('malformed PEM: the bundle check refuses with rule and reason', async (t) => {
  for (const row of ROWS) {
    let caught: unknown
    try {
      checkBundle({ ...good, [`${row.file}Pem`]: row.text })
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof CulexError, `${row.name}: a CulexError (${(caught as Error)?.constructor?.name})`)
    t.equal((caught as CulexError)?.code, 'CULEX_ERR_CERT_INVALID', `${row.name}: code`)
    t.match((caught as Error)?.message, row.check, `${row.name}: says why`)
    t.ok(((caught as Error)?.message ?? '').length < 1000, `${row.name}: a sentence, not the input`)
  }
})

t.test('malformed PEM: inspect reports what it found or says which certificate is damaged', async (t) => {
  for (const row of ROWS) {
    let report: ReturnType<typeof inspectPem> | undefined
    let caught: unknown
    try {
      report = inspectPem(row.text)
    } catch (err) {
      caught = err
    }
    if (row.inspect instanceof RegExp) {
      t.equal((caught as Error)?.constructor, Error, `${row.name}: an Error with a message (${(caught as Error)?.constructor?.name})`)
      t.match((caught as Error)?.message, row.inspect, `${row.name}: names the certificate`)
    } else {
      t.equal(caught, undefined, `${row.name}: no exception`)
      t.same({ certificates: report?.certificates.length, privateKeys: report?.privateKeys.length }, row.inspect, `${row.name}: what was found`)
    }
  }
})

t.test('culex certs check and inspect on junk files: exit 1 with one line', async (t) => {
  const dir = await tempDir(t)
  const files = { junk: join(dir, 'junk.pem'), begins: join(dir, 'begins.pem'), damaged: join(dir, 'damaged.pem'), key: join(dir, 'key.pem') }
  await writeFile(files.junk, randomBytes(MB))
  await writeFile(files.begins, '-----BEGIN CERTIFICATE-----\n'.repeat(MB / 28))
  await writeFile(files.damaged, block('CERTIFICATE', certBody.slice(0, 200)))
  await writeFile(files.key, leaf.keyPem)
  const cli = async (...argv: string[]) => {
    let out = ''
    let err = ''
    const code = await runCertsCli(argv, { out: (s) => { out += s }, err: (s) => { err += s } })
    return { code, out, err }
  }
  for (const file of [files.junk, files.begins]) {
    const inspected = await cli('inspect', file)
    t.equal(inspected.code, 1, `inspect ${file}`)
    t.match(inspected.err, /^culex certs inspect: .* holds no PEM certificate or private key\n$/)
    const checked = await cli('check', '--key', files.key, '--chain', file)
    t.equal(checked.code, 1, `check ${file}`)
    t.match(checked.out, /^rule pem: chain is not PEM/)
  }
  const damaged = await cli('inspect', files.damaged)
  t.equal(damaged.code, 1)
  t.match(damaged.err, /^culex certs inspect: certificate 1 in the file cannot be parsed \(.*\)\n$/)
})
