// The Listeners page in a real browser: every listener with its state and clients, the ssl listener's TLS settings,
// served certificate and failed handshakes by reason; stop and start from the page, the port closed then open.
import t from 'tap'
import { connect } from 'node:net'
import { connectOwned, freePort, until } from '../helpers.js'
import { basePki, handshake, pkiDir, sslOptions } from '../listeners/tls-helpers.js'
import { launchBrowser, openSignedIn, screenshot, startDashboardBroker } from './browser.js'
import type { Page } from 'playwright-core'

const fact = (page: Page, scope: string, label: string) => page.locator('section', { has: page.getByRole('heading', { name: scope, exact: true }) }).locator('dl.facts > div', { has: page.locator('dt', { hasText: label }) }).locator('dd')

/** Whether something accepts TCP connections on the port. */
const accepts = (port: number) => new Promise<boolean>((resolve) => {
  const socket = connect({ host: '127.0.0.1', port })
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
})

t.test('listeners: TLS settings, served certificate, failures by reason; stop and start from the page', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const sslPort = await freePort()
  const b = await startDashboardBroker(t, {
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: { default: { bind: `127.0.0.1:${sslPort}`, ssl_options: sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true, versions: ['tlsv1.3', 'tlsv1.2'] }) } },
    },
  })
  await connectOwned(t, b.tcpPort, { clientId: 'on-tcp' })
  const refused = await handshake(sslPort, { servername: 'localhost', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
  t.notOk(refused.secure && !refused.closedAfterHandshake, 'a client without a certificate is refused')

  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'listeners')
  await page.getByRole('heading', { level: 1, name: 'Listeners' }).waitFor()
  const table = page.getByRole('table', { name: 'Listeners' })
  const row = (id: string) => table.getByRole('row', { name: new RegExp(`^${id} `) })
  await until(async () => /running/.test(await row('tcp:default').textContent() ?? '') && /1 \//.test(await row('tcp:default').textContent() ?? ''), 'tcp:default running with its client')
  t.match(await row('ssl:default').textContent(), `127.0.0.1:${sslPort}`, 'the ssl listener\'s address')

  const tls = 'TLS of ssl:default'
  t.equal(await fact(page, tls, 'Client certificate check').textContent(), 'verify_peer')
  t.equal(await fact(page, tls, 'Refuse clients without a certificate').textContent(), 'yes')
  t.equal(await fact(page, tls, 'TLS versions').textContent(), 'tlsv1.3, tlsv1.2')
  t.equal(await fact(page, tls, 'Ciphers').textContent(), 'OpenSSL defaults')
  const served = page.getByRole('table', { name: 'Certificates served by ssl:default' })
  t.match(await served.getByRole('row').nth(1).textContent(), /CN=localhost.*DNS:localhost.*CN=Culex Test CA/, 'the served certificate\'s subject, SANs and issuer')
  t.match(await served.getByRole('row').nth(1).textContent(), /days left/, 'and its expiry')
  const failures = page.getByRole('table', { name: 'TLS handshake failures of ssl:default' })
  await until(async () => await failures.getByRole('cell', { name: 'no_peer_cert' }).count() === 1, 'the failed handshake by reason')
  t.pass('the failure is listed with its reason')
  await screenshot(t, page, 'listeners')

  t.ok(await accepts(sslPort), 'the ssl port is open')
  await table.getByRole('button', { name: 'Stop ssl:default' }).click()
  const dialog = page.getByRole('dialog', { name: 'Stop ssl:default?' })
  t.match(await dialog.textContent(), /0 connected clients are disconnected/, 'the confirmation says how many clients it drops')
  await dialog.getByRole('button', { name: 'Stop' }).click()
  await page.getByRole('status').getByText('ssl:default was stopped.').waitFor()
  await until(async () => !await accepts(sslPort), 'the port is closed')
  t.pass('the port is closed')
  await until(async () => /stopped/.test(await row('ssl:default').textContent() ?? ''), 'shown stopped')

  await table.getByRole('button', { name: 'Start ssl:default' }).click()
  await page.getByRole('status').getByText('ssl:default was started.').waitFor()
  await until(() => accepts(sslPort), 'the port is open again')
  t.pass('the port is open again')
  await until(async () => /running/.test(await row('ssl:default').textContent() ?? ''), 'shown running')
})
