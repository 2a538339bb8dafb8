// The overview in a real browser: its figures follow what MQTT clients do; the language switch.
import t from 'tap'
import { connectOwned, until } from '../helpers.js'
import { launchBrowser, openSignedIn, startDashboardBroker } from './browser.js'

const figure = (name: string) => `[data-figure="${name}"] .figure-value`
const count = (text: string | null) => Number((text ?? '').replace(/[^\d]/g, '') || NaN)

t.test('overview figures move when a client publishes', async (t) => {
  const b = await startDashboardBroker(t)
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b)
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  const received = page.locator(figure('messages.received'))
  const connections = page.locator(figure('connections.count'))
  await until(async () => !Number.isNaN(count(await received.textContent())), 'messages in shown')
  const before = count(await received.textContent())
  t.equal(count(await connections.textContent()), 0, 'no client yet')

  const client = await connectOwned(t, b.tcpPort, { clientId: 'overview-pub' })
  for (let i = 0; i < 3; i++) await client.publishAsync('overview/t', 'x', { qos: 1 })
  await until(async () => count(await received.textContent()) >= before + 3, 'messages in counts the 3 publishes')
  await until(async () => count(await connections.textContent()) === 1, 'one connection shown')
  t.pass('messages in and connections follow the client')

  const listeners = page.getByRole('table', { name: 'Listeners' })
  await listeners.getByRole('cell', { name: 'tcp:default' }).waitFor()
  t.pass('the tcp listener is listed')
})

t.test('the language switch shows Japanese labels and is remembered', async (t) => {
  const b = await startDashboardBroker(t)
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b)
  const nav = page.getByRole('navigation', { name: 'Main' })
  await nav.getByRole('link', { name: 'Clients' }).waitFor()
  await page.getByLabel('Language').selectOption('ja')
  await page.getByRole('navigation', { name: 'メイン' }).getByRole('link', { name: 'クライアント' }).waitFor()
  t.equal(await page.getByRole('heading', { level: 1 }).textContent(), '概要', 'the page title is Japanese')
  t.equal(await page.locator('html').getAttribute('lang'), 'ja', 'the document language follows')
  await page.reload()
  await page.getByRole('heading', { level: 1, name: '概要' }).waitFor()
  t.pass('the choice survives a reload')
})
