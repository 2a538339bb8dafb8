// Retained messages and subscriptions in a real browser: search, view, delete (and a new subscriber no longer gets
// the deleted one).
import t from 'tap'
import { collect, connectOwned, until } from '../helpers.js'
import { launchBrowser, openSignedIn, startDashboardBroker } from './browser.js'

t.test('retained messages: search, view, delete; subscriptions listed', async (t) => {
  const b = await startDashboardBroker(t)
  const publisher = await connectOwned(t, b.tcpPort, { clientId: 'thermo' })
  await publisher.subscribeAsync('sensors/#', { qos: 1 })
  await publisher.publishAsync('sensors/1/temp', '21.5', { qos: 1, retain: true })
  await publisher.publishAsync('sensors/2/temp', 'hot', { qos: 1, retain: true })
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'retained')
  const table = page.getByRole('table', { name: 'Retained messages' })
  await table.getByRole('cell', { name: 'sensors/2/temp', exact: true }).waitFor()
  t.equal(await table.locator('tbody tr').count(), 2, 'both retained messages listed')

  await page.getByLabel('Topic or filter (+, #)').fill('sensors/1/#')
  await page.getByRole('button', { name: 'Search' }).click()
  await until(async () => await table.locator('tbody tr').count() === 1, 'the filter leaves one')
  await page.getByRole('button', { name: 'View the message on sensors/1/temp' }).click()
  await page.locator('pre.payload', { hasText: '21.5' }).waitFor()
  t.pass('the payload is shown')

  await page.getByRole('button', { name: 'Delete the message on sensors/1/temp' }).click()
  await page.getByRole('dialog', { name: 'Delete this retained message?' }).getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('status').getByText('The retained message on sensors/1/temp was deleted.').waitFor()
  await until(async () => await table.locator('tbody tr').count() === 0, 'the deleted message leaves the list')
  const left = await b.call('/api/v5/mqtt/retainer/messages')
  t.same(left.json.data.map((m: { topic: string }) => m.topic), ['sensors/2/temp'], 'the server keeps the other one')
  const late = await connectOwned(t, b.tcpPort, { clientId: 'late' })
  const inbox = collect(late)
  await late.subscribeAsync('sensors/+/temp', { qos: 2 })
  await inbox.probe(publisher, 'sensors/probe/temp')
  t.same(inbox.messages.map((m) => m.topic), ['sensors/2/temp'], 'a new subscriber gets only the retained message left')

  await page.goto(`${b.url}#/subscriptions`)
  await page.getByLabel('Client ID').fill('thermo')
  await page.getByRole('button', { name: 'Search' }).click()
  const subs = page.getByRole('table', { name: 'Subscriptions' })
  await until(async () => (await subs.locator('tbody tr').allTextContents()).join('\n').includes('sensors/#') && await subs.locator('tbody tr').count() === 1, 'thermo\'s subscription alone')
  t.pass('the subscription is listed under its client')
})
