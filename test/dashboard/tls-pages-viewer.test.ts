// The Listeners, Certificates and Device certificates pages for a viewer: everything shown, no write control.
import t from 'tap'
import { createCa, issueServer } from '../../src/certs/index.js'
import { launchBrowser, openSignedIn, startDashboardBroker } from './browser.js'

t.test('a viewer sees listeners, bundles and device CAs without any control that changes them', async (t) => {
  const ca = await createCa({ cn: 'Viewer Test CA', startDaysAgo: 40, days: 2000 })
  const leaf = await issueServer({ ca, cn: 'viewer.example.com', sans: ['viewer.example.com'], startDaysAgo: 40, days: 400 })
  const b = await startDashboardBroker(t)
  t.equal((await b.call('/api/v5/certs/global/name/site', { method: 'POST', json: { key: leaf.keyPem, chain: leaf.certPem, ca: ca.certPem } })).status, 204)
  t.equal((await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: ca.certPem } })).status, 201)
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'listeners', 'viewer')
  await page.getByRole('table', { name: 'Listeners' }).getByRole('cell', { name: 'tcp:default' }).waitFor()
  t.equal(await page.getByRole('button', { name: /^(Start|Stop|Restart) / }).count(), 0, 'no start, stop or restart')

  await page.goto(`${b.url}#/certificates`)
  await page.getByRole('table', { name: 'Managed certificate bundles' }).getByRole('cell', { name: 'global/site' }).waitFor()
  t.equal(await page.getByRole('heading', { name: 'Upload a bundle' }).count(), 0, 'no upload form')
  t.equal(await page.getByRole('button', { name: /Delete|Replace/ }).count(), 0, 'no replace or delete')

  await page.goto(`${b.url}#/device-certs`)
  await page.getByRole('table', { name: 'CA certificates' }).getByRole('cell', { name: 'Viewer Test CA', exact: true }).waitFor()
  t.equal(await page.getByRole('heading', { name: 'Register a CA certificate' }).count(), 0, 'no CA registration')
  t.equal(await page.getByRole('button', { name: /Deactivate|Activate|Delete/ }).count(), 0, 'no status change or delete')
})
