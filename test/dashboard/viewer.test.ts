// The viewer role in a real browser: the pages show everything and offer no write control.
import t from 'tap'
import { connectOwned } from '../helpers.js'
import { call } from '../api/api-helpers.js'
import { launchBrowser, login, openSignedIn, startDashboardBroker } from './browser.js'

t.test('a viewer sees no write control', async (t) => {
  const b = await startDashboardBroker(t)
  await connectOwned(t, b.tcpPort, { clientId: 'watched' })
  await b.call('/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'intruder' } })
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'clients/watched', 'viewer')
  await page.getByRole('heading', { level: 1, name: 'Client watched' }).waitFor()
  await page.getByRole('heading', { name: 'Connection' }).waitFor()
  t.equal(await page.getByRole('button', { name: /^(Kick|Ban)$/ }).count(), 0, 'no kick or ban')

  await page.goto(`${b.url}#/banned`)
  await page.getByRole('table', { name: 'Banned' }).getByRole('cell', { name: 'intruder' }).waitFor()
  t.equal(await page.getByRole('heading', { name: 'Add a ban' }).count(), 0, 'no form to add a ban')
  t.equal(await page.getByRole('button', { name: /Delete/ }).count(), 0, 'no delete on bans')

  const { token, role } = await login(b, 'viewer')
  t.equal(role, 'viewer')
  const auth = { authorization: `Bearer ${token}` }
  t.equal((await call(b.base, '/api/v5/clients/watched', { headers: auth })).status, 200, 'the viewer\'s token reads')
  t.equal((await call(b.base, '/api/v5/clients/watched', { method: 'DELETE', headers: auth })).status, 403, 'and cannot kick')
  t.equal((await call(b.base, '/api/v5/banned', { method: 'POST', headers: auth, json: { as: 'clientid', who: 'x' } })).status, 403, 'nor ban')
})
