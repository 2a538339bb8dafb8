// The clients pages in a real browser: find a client connected over ssl with a client certificate, read its
// certificate in the details, kick it; ban another and lift the ban on the Banned page.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import { connectOwned, until } from '../helpers.js'
import { basePki, pkiDir, sslOptions } from '../listeners/tls-helpers.js'
import { launchBrowser, openSignedIn, screenshot, startDashboardBroker } from './browser.js'

/** The value next to a label in a details list. */
const fact = (page: Page, label: string) => page.locator('dl.facts > div', { has: page.locator('dt', { hasText: label }) }).locator('dd')

t.test('a client with a client certificate: found, its certificate read, kicked; another banned and let back', async (t) => {
  const pki = await basePki(await pkiDir(t), 'ec256', 'device-7')
  const b = await startDashboardBroker(t, {
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: { default: { bind: '127.0.0.1:0', ssl_options: sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true }) } },
    },
  })
  const sslPort = b.broker.port('ssl')
  const device = await connectOwned(t, sslPort, {
    clientId: 'tls-device', protocol: 'mqtts', servername: 'localhost', rejectUnauthorized: true,
    ca: await readFile(pki.files['ca.pem']!), cert: await readFile(pki.files['client.pem']!), key: await readFile(pki.files['client.key']!),
  })
  const plain = await connectOwned(t, b.tcpPort, { clientId: 'plain-client', username: 'alice' })

  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'clients')
  const table = page.getByRole('table', { name: 'Clients' })
  await table.getByRole('link', { name: 'plain-client' }).waitFor()
  await page.getByLabel('Client ID').fill('tls')
  await page.getByRole('button', { name: 'Search' }).click()
  await until(async () => await table.getByRole('link').count() === 1, 'only the matching client listed')
  t.equal(await table.getByRole('link').textContent(), 'tls-device', 'the search finds the ssl client alone')
  await screenshot(t, page, 'clients')

  await table.getByRole('link', { name: 'tls-device' }).click()
  await page.getByRole('heading', { level: 1, name: 'Client tls-device' }).waitFor()
  await until(async () => (await fact(page, 'Certificate subject').textContent())?.includes('CN=device-7'), 'certificate subject shown')
  t.match(await fact(page, 'Certificate common name').textContent(), 'device-7', 'common name')
  t.match(await fact(page, 'TLS version').textContent(), /^TLSv1\.[23]$/, 'TLS version')
  t.equal(await fact(page, 'Listener').textContent(), 'ssl:default', 'listener')
  await screenshot(t, page, 'client-details')

  const closed = new Promise<void>((resolve) => device.once('close', () => resolve()))
  await page.getByRole('button', { name: 'Kick' }).click()
  const kickDialog = page.getByRole('dialog', { name: 'Kick this client?' })
  await kickDialog.getByRole('button', { name: 'Kick' }).click()
  await page.getByRole('status').getByText('tls-device was kicked.').waitFor()
  await closed
  t.pass('the client is disconnected')
  await page.getByRole('heading', { level: 1, name: 'Clients' }).waitFor()
  await table.getByRole('link', { name: 'plain-client' }).waitFor()
  t.equal(await table.getByRole('link', { name: 'tls-device' }).count(), 0, 'the kicked client is gone from the list')

  const plainClosed = new Promise<void>((resolve) => plain.once('close', () => resolve()))
  await table.getByRole('link', { name: 'plain-client' }).click()
  await page.getByRole('button', { name: 'Ban' }).click()
  await page.getByRole('dialog', { name: 'Ban this client?' }).getByRole('button', { name: 'Ban' }).click()
  await page.getByRole('heading', { level: 1, name: 'Banned' }).waitFor()
  const bans = page.getByRole('table', { name: 'Banned' })
  await bans.getByRole('cell', { name: 'plain-client', exact: true }).waitFor()
  await plainClosed
  t.pass('the banned client is listed and disconnected')
  await screenshot(t, page, 'banned')

  await bans.getByRole('button', { name: 'Delete the ban of plain-client' }).click()
  await page.getByRole('dialog', { name: 'Delete this ban?' }).getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('status').getByText('The ban of plain-client was deleted.').waitFor()
  await until(async () => (await b.call('/api/v5/banned')).json.data.length === 0, 'the ban is gone on the server')
  t.pass('the ban is lifted')
})
