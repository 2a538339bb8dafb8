// The Users page in a real browser, with real logins: an administrator adds a viewer and edits it; the viewer
// signs in on the login page, sees no write control on any of the access pages, and its token is refused (403)
// when it calls a write endpoint directly; it changes its own password and signs in again with it.
import t from 'tap'
import { until } from '../helpers.js'
import { axeViolations, launchBrowser, openSignedIn, screenshot, startDashboardBroker } from './browser.js'

t.test('users: add a viewer, edit it, its limits, and a password change', async (t) => {
  const b = await startDashboardBroker(t, { authorization: { sources: [{ type: 'file', rules: '{allow, all}.' }, { type: 'built_in_database' }] } })
  await b.call('/api/v5/authentication', { method: 'POST', json: { mechanism: 'password_based', backend: 'built_in_database' } })
  const admin = await openSignedIn(await launchBrowser(t), b, 'users')
  await admin.getByRole('heading', { level: 1, name: 'Users' }).waitFor()
  const add = admin.getByRole('form', { name: 'Add a user' })
  await add.getByLabel('User name').fill('operator_1')
  await add.getByLabel('Password').fill('Operator-pass-1')
  t.equal(await add.getByLabel('Role').inputValue(), 'viewer', 'a new user is a viewer unless chosen')
  await add.getByLabel('Description').fill('night shift')
  await add.getByRole('button', { name: 'Add a user' }).click()
  const table = admin.getByRole('table', { name: 'Users' })
  await table.getByRole('cell', { name: 'operator_1', exact: true }).waitFor()
  t.match((await b.call('/api/v5/users')).json.find((u: { username: string }) => u.username === 'operator_1'), { role: 'viewer', description: 'night shift' })
  t.equal(await admin.getByRole('button', { name: 'Delete user admin' }).count(), 0, 'no delete on oneself')

  await add.getByLabel('User name').fill('bad name!')
  await add.getByLabel('Password').fill('Operator-pass-1')
  await add.getByRole('button', { name: 'Add a user' }).click()
  await admin.getByRole('status').getByText(/only upper and lower case letters/).waitFor()
  t.pass('a refused user name is explained')

  await admin.getByRole('button', { name: 'Edit user operator_1' }).click()
  const edit = admin.getByRole('form', { name: 'Edit user operator_1' })
  await edit.getByLabel('Description').fill('day shift')
  await edit.getByRole('button', { name: 'Save' }).click()
  await table.getByRole('cell', { name: 'day shift' }).waitFor()
  t.same(await axeViolations(admin), [], 'no serious or critical axe-core violation')
  await screenshot(t, admin, 'users')

  // The viewer signs in on the login page.
  const viewer = await (await launchBrowser(t)).newPage()
  await viewer.goto(b.url)
  await viewer.getByLabel('User name').fill('operator_1')
  await viewer.getByLabel('Password').fill('Operator-pass-1')
  await viewer.getByRole('button', { name: 'Sign in' }).click()
  await viewer.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  const token = await viewer.evaluate<string>('JSON.parse(sessionStorage.getItem("culex.session")).token')
  for (const [route, write] of [['users', /Add a user|Edit|Delete/], ['authentication', /Add an authenticator|Move|Disable|Edit|Delete/], ['authorization', /Add|Move|Disable|Save rules|Save settings|Clear|Delete/]] as const) {
    await viewer.goto(`${b.url}#/${route}`)
    await viewer.getByRole('heading', { level: 1 }).filter({ hasText: /Users|Authentication|Authorization/ }).waitFor()
    await until(async () => await viewer.getByText('Loading…').count() === 0, `${route} loaded`)
    t.equal(await viewer.getByRole('button', { name: write }).count(), 0, `${route}: no write control for a viewer`)
  }
  const asViewer = (path: string, method: string, json: unknown) => b.call(path, { method, json, headers: { authorization: `Bearer ${token}` } })
  t.equal((await asViewer('/api/v5/users', 'POST', { username: 'sneaky', password: 'Sneaky-pass-1', role: 'administrator' })).status, 403, 'the viewer\'s token cannot add a user')
  t.equal((await asViewer('/api/v5/authentication', 'POST', { mechanism: 'jwt', secret: 'x' })).status, 403, 'nor an authenticator')
  t.equal((await asViewer('/api/v5/authorization/settings', 'PUT', { no_match: 'deny', deny_action: 'ignore', cache: { enable: true } })).status, 403, 'nor change the authorization settings')
  t.equal((await asViewer('/api/v5/authentication/password_based%3Abuilt_in_database/users', 'POST', { user_id: 'u', password: 'p' })).status, 403, 'nor add an MQTT user')
  t.equal((await b.call('/api/v5/users')).json.some((u: { username: string }) => u.username === 'sneaky'), false, 'nothing was added')

  await viewer.goto(`${b.url}#/users`)
  const change = viewer.getByRole('form', { name: 'Change your password' })
  await change.getByLabel('Current password').fill('Operator-pass-1')
  await change.getByLabel('New password', { exact: true }).fill('Operator-pass-2')
  await change.getByLabel('New password again').fill('Operator-pass-3')
  await change.getByText('The two passwords differ.').waitFor()
  t.ok(await change.getByRole('button', { name: 'Change password' }).isDisabled(), 'two different new passwords cannot be sent')
  await change.getByLabel('New password again').fill('Operator-pass-2')
  await change.getByRole('button', { name: 'Change password' }).click()
  await viewer.getByRole('heading', { name: 'Sign in to Culex' }).waitFor()
  t.equal((await b.call('/api/v5/users', { headers: { authorization: `Bearer ${token}` } })).status, 401, 'the old token is closed')
  t.equal((await b.call('/api/v5/login', { method: 'POST', json: { username: 'operator_1', password: 'Operator-pass-2' } })).status, 200, 'the new password signs in')

  await admin.getByRole('button', { name: 'Delete user operator_1' }).click()
  await admin.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
  await until(async () => await table.getByRole('cell', { name: 'operator_1', exact: true }).count() === 0, 'operator_1 is gone')
  t.equal((await b.call('/api/v5/login', { method: 'POST', json: { username: 'operator_1', password: 'Operator-pass-2' } })).status, 401, 'a deleted user cannot sign in')
})
