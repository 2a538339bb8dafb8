// The Authorization page in a real browser: acl.conf with an error is refused with its line shown next to the
// editor and the old rules stay; a good rule that denies a topic is in force for an MQTT client; sources are
// added, moved and disabled; built-in database rules; settings and the cache; a viewer changes nothing.
import t from 'tap'
import { connectOwned, pubackCode, until } from '../helpers.js'
import { axeViolations, launchBrowser, login, openSignedIn, screenshot, startDashboardBroker } from './browser.js'

const BAD = '{deny, all, publish, ["secret/#"]}\n{allow, all}.\n'
const GOOD = '{deny, all, publish, ["secret/#"]}.\n{allow, all}.\n'

t.test('acl.conf editor, sources, built-in rules and settings', async (t) => {
  const b = await startDashboardBroker(t)
  const client = await connectOwned(t, b.tcpPort, { clientId: 'pub-1', username: 'alice', protocolVersion: 5 })
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'authorization')
  await page.getByRole('heading', { level: 1, name: 'Authorization' }).waitFor()

  await page.getByRole('button', { name: 'Add the file source' }).click()
  const editor = page.getByRole('form', { name: 'acl.conf (file source)' })
  const rules = editor.getByLabel('Rules')
  await until(async () => (await rules.inputValue()).includes('{allow, all}.'), 'the new file source\'s rules are in the editor')

  await rules.fill(BAD)
  await editor.getByRole('button', { name: 'Save rules' }).click()
  const alert = editor.getByRole('alert')
  await alert.waitFor()
  const message = await alert.textContent() ?? ''
  t.match(message, /^Refused, the rules in force stay: rules:2:1: expected "\." after the rule/, 'the error and its line are shown next to the editor')
  t.equal(await rules.getAttribute('aria-invalid'), 'true', 'the editor is marked invalid')
  t.equal(await rules.inputValue(), BAD, 'the text stays as typed, to be corrected')
  t.match((await b.call('/api/v5/authorization/sources/file')).json, { rules: '{allow, all}.\n' }, 'the rules in force stayed')
  t.equal(await pubackCode(client, 'secret/a'), 0, 'so secret/a may still be published')
  t.same(await axeViolations(page), [], 'no serious or critical axe-core violation with the error shown')

  await rules.fill(GOOD)
  await editor.getByRole('button', { name: 'Save rules' }).click()
  await page.getByRole('status').getByText('The rules are in force.').waitFor()
  t.equal(await editor.getByRole('alert').count(), 0, 'the error is gone')
  t.equal((await b.call('/api/v5/authorization/sources/file')).json.rules, GOOD, 'the new rules are in force')
  t.equal(await pubackCode(client, 'secret/a'), 0x87, 'a publish to secret/a is now refused (not authorized)')
  t.equal(await pubackCode(client, 'open/a'), 0, 'other topics still pass')

  await page.getByRole('button', { name: 'Add the built_in_database source' }).click()
  const sources = page.getByRole('table', { name: 'Sources, in the order they are asked' })
  await sources.getByRole('cell', { name: 'built_in_database', exact: true }).waitFor()
  const types = async () => (await b.call('/api/v5/authorization/sources')).json.sources.map((s: { type: string }) => s.type)
  t.same(await types(), ['built_in_database', 'file'], 'a new source is asked first, as EMQX')
  await page.getByRole('button', { name: 'Move down: built_in_database' }).click()
  await until(async () => (await types())[0] === 'file', 'moved down')

  const rulesForm = page.getByRole('form', { name: 'Add a rule' })
  await rulesForm.getByLabel('User name').fill('alice')
  await rulesForm.getByLabel('Topic').fill('db/#')
  await rulesForm.getByRole('button', { name: 'Add a rule' }).click()
  await page.getByRole('table', { name: 'Built-in database rules' }).getByRole('cell', { name: 'alice', exact: true }).waitFor()
  t.match((await b.call('/api/v5/authorization/sources/built_in_database/rules/users/alice')).json, { username: 'alice', rules: [{ permission: 'deny', action: 'publish', topic: 'db/#' }] })
  t.equal(await pubackCode(client, 'db/1'), 0, 'the file source allows all first')
  await page.getByRole('button', { name: 'Move up: built_in_database' }).click()
  await until(async () => (await types())[0] === 'built_in_database', 'moved up')
  t.equal(await pubackCode(client, 'db/1'), 0x87, 'asked first, the database rule for alice denies db/1')

  await page.getByRole('button', { name: 'Disable file' }).click()
  await sources.getByRole('button', { name: 'Enable file' }).waitFor()
  t.equal(await pubackCode(client, 'secret/a'), 0, 'with the file source disabled, secret/a passes again')

  const settings = page.getByRole('form', { name: 'Settings' })
  await settings.getByLabel('When no source matches').selectOption('deny')
  await settings.getByLabel('Cache lifetime').fill('30s')
  await settings.getByRole('button', { name: 'Save settings' }).click()
  await page.getByRole('status').getByText('The authorization settings were saved').waitFor()
  t.match((await b.call('/api/v5/authorization/settings')).json, { no_match: 'deny', cache: { ttl: '30s' } }, 'the settings are in force')
  t.equal(await pubackCode(client, 'open/a'), 0x87, 'no source matches open/a: denied')
  await settings.getByRole('button', { name: 'Clear the cache' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Clear the cache' }).click()
  await page.getByRole('status').getByText('The authorization cache was cleared.').waitFor()
  t.pass('the cache was cleared from the page')
  await screenshot(t, page, 'authorization')
})

t.test('a viewer reads the rules and changes nothing', async (t) => {
  const b = await startDashboardBroker(t, { authorization: { sources: [{ type: 'file', rules: GOOD }, { type: 'built_in_database' }] } })
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'authorization', 'viewer')
  await page.getByRole('table', { name: 'Sources, in the order they are asked' }).getByRole('cell', { name: 'file', exact: true }).waitFor()
  await page.getByText('{deny, all, publish, ["secret/#"]}.').waitFor()
  t.equal(await page.getByRole('button', { name: /Add|Move|Disable|Save|Clear|Delete/ }).count(), 0, 'no write control')
  t.equal(await page.getByRole('textbox', { name: 'Rules' }).count(), 0, 'no editor')
  t.ok(await page.getByLabel('When no source matches').isDisabled(), 'the settings are read-only')
  const { token } = await login(b, 'viewer')
  const denied = await b.call('/api/v5/authorization/sources/file', { method: 'PUT', json: { type: 'file', enable: true, rules: '{allow, all}.' }, headers: { authorization: `Bearer ${token}` } })
  t.equal(denied.status, 403, 'the viewer\'s token cannot change the rules through the API either')
  t.equal((await b.call('/api/v5/authorization/sources/file')).json.rules, GOOD, 'the rules stayed')
})
