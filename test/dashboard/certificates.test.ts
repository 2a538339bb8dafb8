// The Certificates page in a real browser (seed 000): bundles that break the import rules are refused with the
// rule explained next to the field it concerns (in the browser before the upload where it can be, else from the
// server's answer); a good bundle is then served by SNI to mosquitto_pub; deleting it names the listener and its
// clients, and drops them.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import type { Page } from 'playwright-core'
import { createCa, issueServer, type Issued } from '../../src/certs/index.js'
import { connectOwned, until } from '../helpers.js'
import { handshake, hasMosquitto, MOSQUITTO_PUB, pkiDir, run, writeFiles } from '../listeners/tls-helpers.js'
import { axeViolations, launchBrowser, openSignedIn, screenshot, startDashboardBroker } from './browser.js'

// Seed 000 refuses certificates within 30 days of their start: issue them as if made 40 days ago.
const AGED = { startDaysAgo: 40, days: 400 }
const CHAIN = 'Certificate chain (PEM)'
const KEY = 'Private key (PEM)'
const CA = 'CA certificates (PEM, optional)'
const PASSWORD = 'Key password'

/** The error shown under a field, found by the field's label. */
const errorOf = (page: Page, label: string) => page.locator('.field', { has: page.getByLabel(label, { exact: true }) }).locator('.field-error')

async function fill (page: Page, name: string, files: { chain?: string, key?: string, ca?: string, password?: string }): Promise<void> {
  await page.getByLabel('Bundle name', { exact: true }).fill(name)
  await page.getByLabel(CHAIN, { exact: true }).fill(files.chain ?? '')
  await page.getByLabel(KEY, { exact: true }).fill(files.key ?? '')
  await page.getByLabel(PASSWORD, { exact: true }).fill(files.password ?? '')
  await page.getByLabel(CA, { exact: true }).fill(files.ca ?? '')
  await page.getByRole('button', { name: 'Upload', exact: true }).click()
}

t.test('seed 000 rules explained per field, then a good bundle served by SNI, then deleted with its clients named', { skip: hasMosquitto ? false : 'mosquitto_pub not installed' }, async (t) => {
  const ca = await createCa({ cn: 'Dashboard Test CA', ...AGED, days: 2000 })
  const site: Issued = await issueServer({ ca, cn: 'localhost', sans: ['localhost'], ...AGED })
  const fallback = await issueServer({ ca, cn: 'fallback.example.com', sans: ['fallback.example.com'], ...AGED })
  const stranger = await issueServer({ ca, cn: 'stranger.example.com', sans: ['stranger.example.com'], ...AGED })
  const locked = await issueServer({ ca, cn: 'localhost', sans: ['localhost'], keyPassword: 'open sesame', ...AGED })
  const expired = await issueServer({ ca, cn: 'localhost', sans: ['localhost'], startDaysAgo: 500, days: 100 })
  const files = await writeFiles(await pkiDir(t), { 'ca.pem': ca.certPem })

  const b = await startDashboardBroker(t, {
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: {
        default: {
          enable: false,
          bind: '127.0.0.1:0',
          ssl_options: { managed_certs: [{ bundle_name: 'fallback', sni: '' }, { bundle_name: 'site', sni: 'localhost' }] },
        },
      },
    },
  })
  t.equal((await b.call('/api/v5/certs/global/name/fallback', { method: 'POST', json: { key: fallback.keyPem, chain: fallback.certPem, ca: ca.certPem } })).status, 204)
  t.equal((await b.call('/api/v5/listeners/ssl:default/start', { method: 'POST' })).status, 200, 'the listener starts with its default bundle')
  const port = b.broker.port('ssl')
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256
  t.equal((await handshake(port, { servername: 'localhost' })).fingerprint, fingerprint(fallback.certPem), 'before the upload, localhost gets the default certificate')
  const early = await run(MOSQUITTO_PUB, ['--cafile', files['ca.pem']!, '-h', 'localhost', '-p', String(port), '-t', 'sni/test', '-m', 'x', '-i', 'mosq-early'])
  t.not(early.code, 0, 'so mosquitto_pub cannot verify the name localhost')

  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'certificates')
  await page.getByRole('heading', { level: 1, name: 'Certificates' }).waitFor()
  const bundles = page.getByRole('table', { name: 'Managed certificate bundles' })
  await bundles.getByRole('cell', { name: 'global/fallback' }).waitFor()
  t.match(await bundles.getByRole('row', { name: /global\/fallback/ }).textContent(), /CN=fallback\.example\.com.*DNS:fallback\.example\.com.*CN=Dashboard Test CA.*days left.*ssl:default/, 'the bundle\'s subject, SANs, issuer, expiry and listener')

  // Checked in the browser: nothing is sent.
  await fill(page, 'site', { chain: site.keyPem, key: site.keyPem })
  t.match(await errorOf(page, CHAIN).textContent(), /PEM format.*holds a private key/, 'a key in the chain field: rule pem, on chain')
  await fill(page, 'site', { chain: site.certPem, key: locked.keyPem, ca: ca.certPem })
  t.match(await errorOf(page, PASSWORD).textContent(), /encrypted key needs its password/, 'an encrypted key without password: on the password')
  await fill(page, 'site', { chain: 'hello', key: site.keyPem })
  t.match(await errorOf(page, CHAIN).textContent(), /No -----BEGIN/, 'text that is not PEM')
  t.equal((await b.call('/api/v5/certs/global/list')).json.length, 1, 'none of these reached the server')

  // Checked by the server: its refusal names the field and the rule.
  const cases: [string, { chain?: string, key?: string, ca?: string, password?: string }, string, RegExp][] = [
    ['reversed chain', { chain: ca.certPem + site.certPem, key: site.keyPem }, CHAIN, /Chain order.*reversed/],
    ['another certificate\'s key', { chain: site.certPem, key: stranger.keyPem, ca: ca.certPem }, KEY, /must belong to the first certificate.*does not belong/],
    ['expired certificate', { chain: expired.certPem, key: expired.keyPem, ca: ca.certPem }, CHAIN, /valid now.*expired on/],
    ['wrong key password', { chain: locked.certPem, key: locked.keyPem, ca: ca.certPem, password: 'wrong' }, PASSWORD, /does not decrypt/],
    ['no issuer', { chain: site.certPem, key: site.keyPem }, CHAIN, /lead to a CA.*neither chain nor ca/],
  ]
  for (const [what, upload, field, explained] of cases) {
    await fill(page, 'site', upload)
    await until(async () => await errorOf(page, field).count() === 1, `${what}: an error under ${field}`)
    t.match(await errorOf(page, field).textContent(), explained, `${what}: explained under ${field}`)
  }
  await screenshot(t, page, 'certificates-refused')
  t.same(await axeViolations(page), [], 'no serious or critical axe-core violation with the errors shown')
  t.equal((await b.call('/api/v5/certs/global/list')).json.length, 1, 'nothing was stored')

  await fill(page, 'site', { chain: site.certPem, key: site.keyPem, ca: ca.certPem })
  await page.getByRole('status').getByText('Bundle site was saved.').waitFor()
  const siteRow = bundles.getByRole('row', { name: /global\/site/ })
  await until(async () => /ssl:default \(SNI localhost\)/.test(await siteRow.textContent() ?? ''), 'the new bundle listed with its listener and SNI name')
  t.match(await siteRow.textContent(), /CN=localhost.*DNS:localhost/, 'its subject and SANs')

  await until(async () => (await handshake(port, { servername: 'localhost' })).fingerprint === fingerprint(site.certPem), 'the uploaded certificate served for localhost')
  t.equal((await handshake(port, { servername: 'fallback.example.com' })).fingerprint, fingerprint(fallback.certPem), 'other names still get the default')
  const pub = await run(MOSQUITTO_PUB, ['--cafile', files['ca.pem']!, '-h', 'localhost', '-p', String(port), '-t', 'sni/test', '-m', 'x', '-i', 'mosq-sni'])
  t.equal(pub.code, 0, `mosquitto_pub verifies localhost through the uploaded certificate (${pub.stderr})`)
  await screenshot(t, page, 'certificates')

  const client = await connectOwned(t, port, { clientId: 'sni-client', protocol: 'mqtts', servername: 'localhost', ca: ca.certPem, rejectUnauthorized: true })
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
  await until(async () => (await b.call('/api/v5/listeners/ssl:default')).json.current_connections === 1, 'the client counted')
  await siteRow.getByRole('button', { name: 'Delete bundle site' }).click()
  const dialog = page.getByRole('dialog', { name: 'Delete bundle site?' })
  t.match(await dialog.textContent(), /served by ssl:default \(SNI localhost\); 1 clients are connected/, 'the confirmation names the listener and the connected clients')
  await dialog.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('status').getByText('Bundle site was deleted.').waitFor()
  await closed
  t.pass('the client served by that bundle is disconnected')
  await until(async () => await bundles.getByRole('row', { name: /global\/site/ }).count() === 0, 'gone from the list')
})
