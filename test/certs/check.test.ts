// Seed 000's import rules (checkBundle, `culex certs check`): one bundle per rule that breaks only that rule,
// made with our certs library and with the system openssl, and good bundles that pass.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { CulexError } from '../../src/errors.js'
import { checkBundle, createCa, issueClient, issueServer, runCertsCli, type BundleCheckInput, type BundleRule, type Issued } from '../../src/certs/index.js'
import { hasOpenssl, openssl, run, tempDir, writeFiles } from './pki.js'

const skip = hasOpenssl ? false : 'no /usr/bin/openssl'
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DAY_MS = 24 * 60 * 60 * 1000
// openssl's certificates start now: they are checked 40 days later, out of the 30-day window after notBefore.
const LATER = new Date(Date.now() + 40 * DAY_MS)

const CA = { startDaysAgo: 400, days: 3650 }
const LEAF = { startDaysAgo: 40, days: 400 }

const [rootEc, rootRsa] = await Promise.all([
  createCa({ cn: 'Check Root EC', ...CA }),
  createCa({ cn: 'Check Root RSA', key: 'rsa2048', ...CA }),
])
const inter = await createCa({ cn: 'Check Issuing EC', issuer: rootEc, ...CA })
const [ec256, ec384, rsa, viaInter, other, encrypted, client, ecFromRsa] = await Promise.all([
  issueServer({ ca: rootEc, cn: 'mqtt.example.com', ...LEAF }),
  issueServer({ ca: rootEc, cn: 'p384.example.com', key: 'ec384', ...LEAF }),
  issueServer({ ca: rootRsa, cn: 'rsa.example.com', key: 'rsa2048', ...LEAF }),
  issueServer({ ca: inter, cn: 'inter.example.com', sans: ['inter.example.com', '10.0.0.5'], ...LEAF }),
  issueServer({ ca: rootEc, cn: 'other.example.com', ...LEAF }),
  issueServer({ ca: rootEc, cn: 'enc.example.com', keyPassword: 'secret', ...LEAF }),
  issueClient({ ca: rootEc, cn: 'device-1', ...LEAF }),
  issueServer({ ca: rootRsa, cn: 'mixed.example.com', ...LEAF }),
])

const bundle = (leaf: Issued, ca: Issued = rootEc): BundleCheckInput => ({ keyPem: leaf.keyPem, chainPem: leaf.certPem, caPem: ca.certPem })

function refusal (input: BundleCheckInput): CulexError | undefined {
  try {
    checkBundle(input)
  } catch (err) {
    return err as CulexError
  }
  return undefined
}

/** Refused with CULEX_ERR_CERT_INVALID, the message starting with `rule <rule>: `. */
function refuses (t: Test, input: BundleCheckInput, rule: BundleRule, detail: RegExp, what: string): void {
  const err = refusal(input)
  t.ok(err instanceof CulexError, `${what}: refused`)
  t.equal(err?.code, 'CULEX_ERR_CERT_INVALID', `${what}: code`)
  t.match(err?.message, new RegExp(`^rule ${rule}: `), `${what}: names rule ${rule}`)
  t.match(err?.message, detail, `${what}: says why`)
}

function accepts (t: Test, input: BundleCheckInput, what: string): string[] {
  const err = refusal(input)
  t.equal(err?.message, undefined, `${what}: accepted`)
  return err === undefined ? checkBundle(input).warnings : []
}

// --- openssl-made files, in one temporary directory ---
const dir = await tempDir(t)
const path = (name: string) => join(dir, name)
const read = (name: string) => readFile(path(name), 'utf8')

async function ossl (...args: string[]): Promise<void> {
  const r = await openssl(...args)
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
}

/** A self-signed server certificate for `cn` with a DNS SAN, valid 400 days from now. */
const selfSigned = (key: string[], cn: string, out: string) =>
  ossl('req', '-x509', ...key, '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`, '-days', '400', '-out', path(out))

if (hasOpenssl) {
  await writeFiles(dir, { 'rsa.key': rsa.keyPem, 'ec256.key': ec256.keyPem, 'ec256.pem': ec256.certPem, 'san.cnf': 'subjectAltName=DNS:v3.example.com\n' })
  await ossl('ecparam', '-genkey', '-name', 'prime256v1', '-out', path('sec1.key'))
  await selfSigned(['-key', path('sec1.key')], 'sec1.example.com', 'sec1.pem')
  await selfSigned(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('ss.key')], 'ss.example.com', 'ss.pem')
  await selfSigned(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521', '-nodes', '-keyout', path('p521.key')], 'p521.example.com', 'p521.pem')
  await selfSigned(['-newkey', 'ed25519', '-nodes', '-keyout', path('ed25519.key')], 'ed.example.com', 'ed25519.pem')
  await ossl('genrsa', '-out', path('rsa1024.key'), '1024')
  await selfSigned(['-key', path('rsa1024.key')], 'weak.example.com', 'rsa1024.pem')
  await ossl('rsa', '-in', path('rsa1024.key'), '-traditional', '-aes256', '-passout', 'pass:x', '-out', path('rsa1024-enc.key'))
  await ossl('rsa', '-in', path('rsa.key'), '-traditional', '-out', path('rsa-pkcs1.key'))
  await ossl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', 'pass:x', '-in', path('ec256.key'), '-out', path('ec256-enc.key'))
  await ossl('x509', '-in', path('ec256.pem'), '-outform', 'DER', '-out', path('ec256.der'))
  // A version 1 root (x509 -req without extensions) and a v3 leaf with a SAN that it signs.
  await ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path('v1root.key'))
  await ossl('req', '-new', '-key', path('v1root.key'), '-subj', '/CN=V1 Root', '-out', path('v1root.csr'))
  await ossl('x509', '-req', '-in', path('v1root.csr'), '-signkey', path('v1root.key'), '-days', '400', '-out', path('v1root.pem'))
  await ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path('v3.key'))
  await ossl('req', '-new', '-key', path('v3.key'), '-subj', '/CN=v3.example.com', '-out', path('v3.csr'))
  const sign = (extra: string[], out: string) => ossl('x509', '-req', '-in', path('v3.csr'), '-CA', path('v1root.pem'), '-CAkey', path('v1root.key'), '-set_serial', '7', '-days', '400', ...extra, '-out', path(out))
  await sign(['-extfile', path('san.cnf')], 'v3.pem')
  await sign([], 'v1leaf.pem')
}

t.test('good bundles are accepted; the key comes back as unencrypted PKCS#8', async (t) => {
  for (const [what, leaf, ca] of [['EC P-256', ec256, rootEc], ['EC P-384', ec384, rootEc], ['RSA 2048 PKCS#8', rsa, rootRsa]] as const) {
    t.same(accepts(t, bundle(leaf, ca), what), [], `${what}: no warning`)
    const { key } = checkBundle(bundle(leaf, ca))
    t.equal(key, leaf.keyPem, `${what}: the PKCS#8 key as given`)
  }
  accepts(t, { keyPem: viaInter.keyPem, chainPem: viaInter.certPem + inter.certPem, caPem: rootEc.certPem }, 'leaf + intermediate, root in ca')
  accepts(t, { keyPem: viaInter.keyPem, chainPem: viaInter.certPem + inter.certPem + rootEc.certPem }, 'leaf + intermediate + root, no ca')
  accepts(t, { keyPem: viaInter.keyPem, chainPem: viaInter.certPem, caPem: inter.certPem }, 'the intermediate as ca')
  accepts(t, { keyPem: viaInter.keyPem, chainPem: viaInter.certPem, caPem: rootRsa.certPem + inter.certPem + rootEc.certPem }, 'ca holding several CAs')
  accepts(t, { keyPem: ec256.keyPem, chainPem: `\n${ec256.certPem}\n\n`, caPem: rootEc.certPem.replace(/\n/g, '\r\n') }, 'blank lines and CRLF line ends')

  const enc = checkBundle({ ...bundle(encrypted), keyPassword: 'secret' })
  t.match(encrypted.keyPem, /BEGIN ENCRYPTED PRIVATE KEY/)
  t.match(enc.key, /^-----BEGIN PRIVATE KEY-----\n/, 'an encrypted key is returned decrypted')
  t.ok(new X509Certificate(encrypted.certPem).checkPrivateKey(createPrivateKey(enc.key!)), 'and it is the certificate\'s key')
  t.same(enc.warnings, [])

  const plain = checkBundle({ ...bundle(ec256), keyPassword: 'unused' })
  t.match(plain.warnings, [/key_password: the key is not encrypted/], 'a password for a plain key is a warning')
})

t.test('good bundles made with openssl: PKCS#1, encrypted PKCS#8, traditional encrypted PKCS#1, self-signed', { skip }, async (t) => {
  const pkcs1 = await read('rsa-pkcs1.key')
  t.match(pkcs1, /^-----BEGIN RSA PRIVATE KEY-----/)
  const fromPkcs1 = checkBundle({ keyPem: pkcs1, chainPem: rsa.certPem, caPem: rootRsa.certPem })
  t.same(fromPkcs1.warnings, [])
  t.match(fromPkcs1.key, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#1 comes back as PKCS#8')
  t.equal(fromPkcs1.key, rsa.keyPem, 'the same key')

  const enc = await read('ec256-enc.key')
  t.match(enc, /BEGIN ENCRYPTED PRIVATE KEY/)
  t.equal(checkBundle({ ...bundle(ec256), keyPem: enc, keyPassword: 'x' }).key, ec256.keyPem, 'openssl pkcs8 -topk8 -v2 aes-256-cbc, decrypted')

  const trad = await read('rsa1024-enc.key')
  t.match(trad, /BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED/)
  const weak = checkBundle({ keyPem: trad, keyPassword: 'x', chainPem: await read('rsa1024.pem'), now: LATER })
  t.match(weak.key, /^-----BEGIN PRIVATE KEY-----\n/)

  accepts(t, { keyPem: await read('ss.key'), chainPem: await read('ss.pem'), now: LATER }, 'openssl req -x509 self-signed EC')
})

t.test('rule pem: PEM blocks only, and the right blocks in each file', { skip }, async (t) => {
  const der = await read('ec256.der')
  refuses(t, { ...bundle(ec256), chainPem: der }, 'pem', /chain is not PEM.*binary DER.*openssl x509 -inform DER/, 'a DER chain')
  refuses(t, { ...bundle(ec256), keyPem: 'not a key' }, 'pem', /^rule pem: key is not PEM: it has no "-----BEGIN/, 'text without PEM')
  refuses(t, { ...bundle(ec256), caPem: '' }, 'pem', /ca is not PEM/, 'an empty ca')
  refuses(t, { ...bundle(viaInter), chainPem: `${viaInter.certPem}subject=CN = Check Issuing EC\n${inter.certPem}` }, 'pem',
    /chain holds text outside its PEM blocks \("subject=CN = Check Issuing EC"\)/, 'text between blocks')
  refuses(t, { ...bundle(ec256), chainPem: ec256.certPem + '-----BEGIN CERTIFICATE-----\nMIIB\n' }, 'pem', /outside its PEM blocks/, 'an unterminated block')
  refuses(t, { ...bundle(ec256), chainPem: ec256.certPem.replace(/\n(.{10})/, '\n$1*') }, 'pem', /block 1 of chain \(CERTIFICATE\) is not valid base64/, 'a damaged block')
  refuses(t, { ...bundle(ec256), chainPem: ec256.certPem.replace(/\n.{8}/, '\nMIIBAAAA') }, 'pem', /certificate 1 of chain cannot be parsed/, 'base64 that is no certificate')
  refuses(t, { ...bundle(ec256), chainPem: ec256.certPem + ec256.keyPem }, 'pem', /chain holds a private key \(PRIVATE KEY\): give it as key/, 'a key in chain')
  refuses(t, { ...bundle(ec256), caPem: rootEc.certPem.replace(/CERTIFICATE/g, 'TRUSTED CERTIFICATE') }, 'pem', /ca holds a TRUSTED CERTIFICATE block/, 'a TRUSTED CERTIFICATE in ca')
  refuses(t, { ...bundle(ec256), keyPem: ec256.keyPem + other.keyPem }, 'pem', /key holds 2 private keys: give exactly one/, 'two keys')
  refuses(t, { ...bundle(ec256), keyPem: ec256.certPem }, 'pem', /key holds no private key block \(found CERTIFICATE\)/, 'a certificate as key')
  refuses(t, { ...bundle(ec256), keyPem: ec256.keyPem + ec256.certPem }, 'pem', /key holds a CERTIFICATE block besides the private key/, 'a certificate beside the key')
})

t.test('rule x509_v3: every certificate is version 3', { skip }, async (t) => {
  const v1root = await read('v1root.pem')
  t.match((await openssl('x509', '-noout', '-text', '-in', path('v1root.pem'))).stdout, /Version: 1 \(0x0\)/, 'openssl made a v1 root')
  const good = { keyPem: await read('v3.key'), chainPem: await read('v3.pem'), now: LATER }
  refuses(t, { ...good, caPem: v1root }, 'x509_v3', /the certificate CN=V1 Root is X\.509 version 1: reissue it as version 3/, 'a v1 CA in ca')
  refuses(t, { ...good, chainPem: good.chainPem + v1root }, 'x509_v3', /CN=V1 Root is X\.509 version 1/, 'a v1 CA in chain')
  refuses(t, { ...good, chainPem: await read('v1leaf.pem') }, 'x509_v3', /CN=v3\.example\.com is X\.509 version 1/, 'a v1 leaf')
})

t.test('rule key_format: PKCS#1 or PKCS#8, SEC1 refused with the conversion', { skip }, async (t) => {
  const sec1 = await read('sec1.key')
  t.match(sec1, /BEGIN EC PARAMETERS[\s\S]*BEGIN EC PRIVATE KEY/, 'openssl ecparam -genkey writes SEC1 with its parameters')
  const chainPem = await read('sec1.pem')
  refuses(t, { keyPem: sec1, chainPem, now: LATER }, 'key_format', /SEC1 EC key \(BEGIN EC PRIVATE KEY\).*openssl pkcs8 -topk8 -nocrypt/, 'SEC1 with EC PARAMETERS')
  refuses(t, { keyPem: sec1.replace(/-----BEGIN EC PARAMETERS-----[\s\S]*?-----END EC PARAMETERS-----\n/, ''), chainPem, now: LATER }, 'key_format', /SEC1/, 'SEC1 alone')
  const converted = (await openssl('pkcs8', '-topk8', '-nocrypt', '-in', path('sec1.key'))).stdout
  accepts(t, { keyPem: converted, chainPem, now: LATER }, 'the same key after the advised conversion')
  refuses(t, { ...bundle(ec256), keyPem: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n' }, 'key_format', /OpenSSH's format.*ssh-keygen -p -m PKCS8/, 'an OpenSSH key')
  refuses(t, { ...bundle(ec256), keyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, 'key_format', /cannot be read as a PKCS#1 or PKCS#8 key/, 'a PRIVATE KEY block holding no key')
})

t.test('rule key_password: an encrypted key needs the right password', async (t) => {
  refuses(t, bundle(encrypted), 'key_password', /^rule key_password: the key is encrypted: give key_password$/, 'no password')
  refuses(t, { ...bundle(encrypted), keyPassword: 'wrong' }, 'key_password', /^rule key_password: key_password does not decrypt the key$/, 'a wrong password')
  t.test('openssl-encrypted keys', { skip }, async (t) => {
    refuses(t, { ...bundle(ec256), keyPem: await read('ec256-enc.key') }, 'key_password', /give key_password/, 'openssl pkcs8 -topk8 -v2 aes-256-cbc without the password')
    refuses(t, { keyPem: await read('rsa1024-enc.key'), keyPassword: 'y' }, 'key_password', /does not decrypt/, 'traditional PKCS#1, wrong password')
  })
})

t.test('rule key_algorithm: RSA 2048 or EC P-256/P-384; RSA 1024 with a warning', { skip }, async (t) => {
  const weak = { keyPem: await read('rsa1024.key'), chainPem: await read('rsa1024.pem'), now: LATER }
  t.same(accepts(t, weak, 'RSA 1024'), ['key_algorithm: RSA 1024 is weak (accepted; prefer RSA 2048 or EC P-256)'], 'one warning for key and certificate')
  t.match(checkBundle({ chainPem: weak.chainPem, now: LATER }).warnings, [/RSA 1024 is weak/], 'the certificate alone warns too')
  refuses(t, { keyPem: await read('p521.key'), chainPem: await read('p521.pem'), now: LATER }, 'key_algorithm', /the private key is EC P-521: use RSA 2048/, 'EC P-521')
  refuses(t, { keyPem: await read('ed25519.key'), chainPem: await read('ed25519.pem'), now: LATER }, 'key_algorithm', /the private key is ED25519/, 'Ed25519')
  refuses(t, { chainPem: await read('ed25519.pem'), now: LATER }, 'key_algorithm', /the certificate CN=ed\.example\.com is ED25519/, 'an Ed25519 certificate without its key')
})

t.test('rule key_match: the key belongs to the first certificate', async (t) => {
  refuses(t, { ...bundle(ec256), keyPem: other.keyPem }, 'key_match', /does not belong to the certificate CN=mqtt\.example\.com \(the first certificate of chain\)/, 'another leaf\'s key')
  refuses(t, { ...bundle(viaInter), chainPem: viaInter.certPem + inter.certPem, keyPem: inter.keyPem }, 'key_match', /CN=inter\.example\.com/, 'the intermediate\'s key')
})

t.test('rule chain_order: leaf first, each certificate issued by the next', async (t) => {
  refuses(t, { ...bundle(viaInter), chainPem: rootEc.certPem + inter.certPem + viaInter.certPem }, 'chain_order', /chain is reversed \(root first\): put the leaf first/, 'reversed')
  refuses(t, { ...bundle(viaInter), chainPem: viaInter.certPem + rootEc.certPem + inter.certPem }, 'chain_order',
    /certificate 2 of chain \(CN=Check Root EC\) did not issue certificate 1 \(CN=inter\.example\.com\)/, 'root before intermediate')
  refuses(t, { ...bundle(ec256), chainPem: ec256.certPem + ec256.certPem }, 'chain_order', /did not issue/, 'the leaf twice')
})

t.test('rule chain_complete: the chain ends at a self-signed root or a CA in ca', async (t) => {
  refuses(t, { keyPem: viaInter.keyPem, chainPem: viaInter.certPem }, 'chain_complete',
    /chain ends with CN=inter\.example\.com, issued by CN=Check Issuing EC, which is in neither chain nor ca: append/, 'the intermediate missing, no ca')
  refuses(t, { keyPem: viaInter.keyPem, chainPem: viaInter.certPem, caPem: rootEc.certPem }, 'chain_complete', /issued by CN=Check Issuing EC/, 'ca holds only the root')
  const impostor = await createCa({ cn: 'Check Issuing EC', ...CA })
  refuses(t, { keyPem: viaInter.keyPem, chainPem: viaInter.certPem, caPem: impostor.certPem }, 'chain_complete',
    /ca holds a certificate named CN=Check Issuing EC, but it did not sign CN=inter\.example\.com/, 'a CA with the issuer\'s name but another key')
})

t.test('rule ca_key_type: the leaf\'s key type is its signing CA\'s', async (t) => {
  refuses(t, bundle(ecFromRsa, rootRsa), 'ca_key_type', /CN=mixed\.example\.com has an EC key but its signing CA CN=Check Root RSA has an RSA key/, 'EC leaf, RSA root in ca')
  refuses(t, { ...bundle(ecFromRsa), chainPem: ecFromRsa.certPem + rootRsa.certPem, caPem: undefined }, 'ca_key_type', /signing CA CN=Check Root RSA/, 'EC leaf, RSA root in chain')
})

t.test('rule validity_window: not within 30 days of notBefore or notAfter, not expired', async (t) => {
  const [fresh, ending, expired, future] = await Promise.all([
    issueServer({ ca: rootEc, cn: 'fresh.example.com' }),
    issueServer({ ca: rootEc, cn: 'ending.example.com', startDaysAgo: 40, days: 60 }),
    issueServer({ ca: rootEc, cn: 'expired.example.com', startDaysAgo: 100, days: 50 }),
    issueServer({ ca: rootEc, cn: 'future.example.com', ...LEAF }),
  ])
  refuses(t, bundle(fresh), 'validity_window', /CN=fresh\.example\.com became valid on .*, less than 30 days ago: import it from /, 'issued today')
  refuses(t, bundle(ending), 'validity_window', /CN=ending\.example\.com expires on .*, in less than 30 days: renew it/, 'expires in 20 days')
  refuses(t, bundle(expired), 'validity_window', /CN=expired\.example\.com expired on /, 'expired')
  const notBefore = new Date(new X509Certificate(future.certPem).validFrom).getTime()
  refuses(t, { ...bundle(future), now: new Date(notBefore - DAY_MS) }, 'validity_window', /is not valid before/, 'before notBefore')
  refuses(t, { ...bundle(future), now: new Date(notBefore + 29 * DAY_MS) }, 'validity_window', /less than 30 days ago/, 'day 29')
  accepts(t, { ...bundle(future), now: new Date(notBefore + 31 * DAY_MS) }, 'day 31')
  const oldCa = await createCa({ cn: 'Old Root', startDaysAgo: 500, days: 450 })
  refuses(t, { chainPem: ec256.certPem + rootEc.certPem, caPem: oldCa.certPem }, 'validity_window', /the CA certificate CN=Old Root expired on /, 'an expired CA in ca')
})

t.test('rule san_present: a DNS name or IP address in subjectAltName', async (t) => {
  refuses(t, bundle(client), 'san_present', /CN=device-1 has no subjectAltName with a DNS name or IP address/, 'a certificate without SAN')
  accepts(t, bundle(viaInter, inter), 'DNS and IP SANs')
})

t.test('partial bundles are checked as far as their files allow', async (t) => {
  accepts(t, { chainPem: ec256.certPem, caPem: rootEc.certPem }, 'chain and ca, no key')
  t.equal(checkBundle({ chainPem: ec256.certPem, caPem: rootEc.certPem }).key, undefined, 'no key, none returned')
  accepts(t, { keyPem: ec256.keyPem }, 'a key alone')
  accepts(t, { caPem: rootEc.certPem + rootRsa.certPem }, 'ca alone')
  accepts(t, { keyPem: ec256.keyPem, caPem: rootEc.certPem }, 'key and ca: nothing to match the key with')
  refuses(t, { chainPem: client.certPem, caPem: rootEc.certPem }, 'san_present', /CN=device-1/, 'a chain alone still has its rules')
  refuses(t, { keyPem: encrypted.keyPem }, 'key_password', /give key_password/, 'a key alone still has its rules')
})

t.test('culex certs check', async (t) => {
  const tmp = await tempDir(t)
  const f = await writeFiles(tmp, {
    'key.pem': encrypted.keyPem,
    'chain.pem': encrypted.certPem,
    'ca.pem': rootEc.certPem,
    'other.key': other.keyPem,
  })
  const culex = (...args: string[]) => run(process.execPath, ['--import=tsx', 'src/broker.ts', 'certs', 'check', ...args], { cwd: ROOT })

  const ok = await culex('--key', f['key.pem']!, '--chain', f['chain.pem']!, '--ca', f['ca.pem']!, '--key-password', 'secret')
  t.equal(ok.code, 0, ok.stderr)
  t.equal(ok.stdout, 'OK\n')
  const bad = await culex('--key', f['other.key']!, '--chain', f['chain.pem']!, '--ca', f['ca.pem']!)
  t.equal(bad.code, 1)
  t.match(bad.stdout, /^rule key_match: the private key does not belong to the certificate CN=enc\.example\.com/)

  const cli = async (...argv: string[]) => {
    let out = ''
    let err = ''
    const code = await runCertsCli(argv, { out: (s) => { out += s }, err: (s) => { err += s } })
    return { code, out, err }
  }
  const noArgs = await cli('check')
  t.equal(noArgs.code, 2)
  t.match(noArgs.err, /culex certs check: give --key FILE and --chain FILE/)
  const noPassword = await cli('check', '--key', f['key.pem']!, '--chain', f['chain.pem']!)
  t.equal(noPassword.code, 1)
  t.equal(noPassword.out, 'rule key_password: the key is encrypted: give key_password\n')
  await writeFile(join(tmp, 'plain.key'), ec256.keyPem)
  const warned = await cli('check', '--key', join(tmp, 'plain.key'), '--chain', f['chain.pem']!.replace('chain.pem', 'plain.pem'))
  t.equal(warned.code, 1, 'a missing file is an error')
  t.match(warned.err, /cannot read the chain file .*plain\.pem: no such file/)
  await writeFile(join(tmp, 'plain.pem'), ec256.certPem)
  const withWarning = await cli('check', '--key', join(tmp, 'plain.key'), '--chain', join(tmp, 'plain.pem'), '--ca', f['ca.pem']!, '--key-password', 'p')
  t.equal(withWarning.code, 0, withWarning.out)
  t.equal(withWarning.out, 'OK\nwarning: key_password: the key is not encrypted; key_password was ignored\n')
  const unknown = await cli('check', '--cert', 'x')
  t.equal(unknown.code, 2)
  const help = await cli('check', '--help')
  t.equal(help.code, 0)
  t.match(help.out, /Usage: culex certs check --key KEY\.pem --chain CHAIN\.pem \[--ca CA\.pem\] \[--key-password P\]/)
  t.match((await cli('--help')).out, /check +check a key, chain and CA against the import rules/)
})
