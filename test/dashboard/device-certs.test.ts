// The Device certificates page in a real browser (seed 001): register a CA from the page, a device of it connects
// and is listed, found by part of its CN and of its serial, deactivated from the page: disconnected, then refused
// at connect with the reason device_inactive.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { createCa, issueClient } from '../../src/certs/index.js'
import { until } from '../helpers.js'
import { basePki, failureFrom, mqttTry, pkiDir, sslOptions } from '../listeners/tls-helpers.js'
import { launchBrowser, openSignedIn, screenshot, startDashboardBroker } from './browser.js'

t.test('register a CA, find its device, deactivate it: the device is refused at connect', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const deviceCa = await createCa({ cn: 'Fleet CA', key: 'ec256' })
  const device = await issueClient({ ca: deviceCa, cn: 'sensor-42', key: 'ec256' })
  const serial = new X509Certificate(device.certPem).serialNumber.toUpperCase()
  const b = await startDashboardBroker(t, {
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: { default: { bind: '127.0.0.1:0', ssl_options: sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true, device_registry: true }) } },
    },
  })
  const port = b.broker.port('ssl')
  const connectDevice = () => mqttTry(port, { cert: device.certPem + deviceCa.certPem, key: device.keyPem, ca: pki.ca.certPem, servername: 'localhost', clientId: 'sensor-42' }, t)
  t.notOk((await connectDevice()).client, 'before its CA is registered the device is refused')

  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'device-certs')
  await page.getByRole('heading', { level: 1, name: 'Device certificates' }).waitFor()
  await page.getByLabel('CA certificate (PEM)', { exact: true }).fill(deviceCa.certPem)
  await page.getByRole('button', { name: 'Register', exact: true }).click()
  await page.getByRole('status').getByText('The CA certificate was registered.').waitFor()
  const cas = page.getByRole('table', { name: 'CA certificates' })
  await cas.getByRole('cell', { name: 'Fleet CA', exact: true }).waitFor()
  t.match(await cas.getByRole('row', { name: /Fleet CA/ }).textContent(), /active/, 'the CA is listed, active')

  const first = await connectDevice()
  t.ok(first.client, `the device connects once its CA is registered (${first.error?.message ?? ''})`)
  const devices = page.getByRole('table', { name: 'Devices' })
  await page.getByLabel('Common name', { exact: true }).fill('SENSOR')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await devices.getByRole('cell', { name: 'sensor-42', exact: true }).waitFor()
  const row = devices.getByRole('row', { name: /sensor-42/ })
  t.match(await row.textContent(), new RegExp(`${serial}.*active`), 'found by part of its CN: its serial and status')
  await page.getByLabel('Common name', { exact: true }).fill('')
  await page.getByLabel('Serial', { exact: true }).fill(serial.slice(1, 9).toLowerCase())
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await until(async () => await devices.getByRole('row').count() === 2, 'one device by part of its serial')
  t.equal(await row.count(), 1, 'found by part of its serial')
  await page.getByLabel('Serial', { exact: true }).fill('FFFFFFFFFFFFFFFFFFFF')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await until(async () => await devices.count() === 0, 'no device with that serial')
  await page.getByRole('button', { name: 'Reset', exact: true }).click()
  await row.waitFor()
  await screenshot(t, page, 'device-certs')

  const closed = new Promise<void>((resolve) => first.client!.once('close', () => resolve()))
  await row.getByRole('button', { name: 'Deactivate sensor-42' }).click()
  await page.getByRole('dialog', { name: 'Deactivate this device?' }).getByRole('button', { name: 'Deactivate' }).click()
  await page.getByRole('status').getByText('sensor-42 was deactivated.').waitFor()
  await closed
  t.pass('the connected device is disconnected')
  await until(async () => /inactive/.test(await row.textContent() ?? ''), 'shown inactive')
  const refused = await connectDevice()
  t.notOk(refused.client, 'the deactivated device is refused at connect')
  t.match(await failureFrom(b, refused.localPort), { reason: 'device_inactive' }, 'with the reason device_inactive')

  await row.getByRole('button', { name: 'Activate sensor-42' }).click()
  await page.getByRole('status').getByText('sensor-42 was activated.').waitFor()
  const again = await connectDevice()
  t.ok(again.client, 'activated again, it connects')
})
