// Every page in a real browser: no serious or critical axe-core violation, keyboard navigation, and a screenshot
// of each (docs/dashboard/ with CULEX_SCREENSHOTS=1).
import t from 'tap'
import { connectOwned, until } from '../helpers.js'
import { axeViolations, launchBrowser, openSignedIn, screenshot, startDashboardBroker } from './browser.js'

const PAGES = [
  ['overview', 'Overview'],
  ['clients', 'Clients'],
  ['subscriptions', 'Subscriptions'],
  ['retained', 'Retained messages'],
  ['banned', 'Banned'],
  ['metrics', 'Metrics'],
  ['authentication', 'Authentication'],
  ['authorization', 'Authorization'],
  ['users', 'Users'],
  ['listeners', 'Listeners'],
  ['certificates', 'Certificates'],
  ['device-certs', 'Device certificates'],
] as const

t.test('every page passes axe-core and is saved as a screenshot', async (t) => {
  const b = await startDashboardBroker(t)
  const client = await connectOwned(t, b.tcpPort, { clientId: 'sensor-1', username: 'sensor' })
  await client.subscribeAsync('sensors/+/temperature', { qos: 1 })
  await client.publishAsync('sensors/1/temperature', '21.5', { qos: 1, retain: true })
  await b.call('/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'intruder', reason: 'tests' } })
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b)
  for (const [route, title] of PAGES) {
    await page.goto(`${b.url}#/${route}`)
    await page.getByRole('heading', { level: 1, name: title }).waitFor()
    await until(async () => await page.getByText('Loading…').count() === 0, `${route} loaded`)
    t.same(await axeViolations(page), [], `${route}: no serious or critical axe-core violation`)
    await screenshot(t, page, route)
  }

  await page.goto(`${b.url}#/metrics`)
  await page.getByLabel('Search figures').fill('messages.qos1')
  const stats = page.getByRole('table', { name: 'Metrics' })
  await until(async () => await stats.getByRole('row').count() === 3, 'the search leaves the two qos1 metrics')
  t.same(await stats.locator('tbody code').allTextContents(), ['messages.qos1.received', 'messages.qos1.sent'], 'the metrics search filters by name')
})

t.test('the sidebar, filters and confirmation work from the keyboard', async (t) => {
  const b = await startDashboardBroker(t)
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b)
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  const clients = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Clients' })
  await clients.focus()
  await page.keyboard.press('Enter')
  await page.getByRole('heading', { level: 1, name: 'Clients' }).waitFor()
  // The page moves the focus in an effect, which runs after the new page has been painted.
  await page.waitForFunction("document.activeElement?.id === 'main'", undefined, { timeout: 5000 }).catch(() => {})
  t.equal(await page.evaluate('document.activeElement?.id'), 'main', 'the new page takes the focus')
  await page.keyboard.press('Tab')
  t.equal(await page.evaluate('document.activeElement?.name'), 'like_clientid', 'the first filter comes next')
  const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')
  t.not(outline, 'none', 'the focused input shows a focus ring')
  t.same(await axeViolations(page), [], 'no violation with the focus on a filter')
})
