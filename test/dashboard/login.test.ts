// Signing in to the dashboard in a real browser: the first login of admin / public asks for a new password, and
// the rules the server applies are shown; a wrong password is refused; logging out ends the token.
import t from 'tap'
import { call } from '../api/api-helpers.js'
import { launchBrowser, screenshot, startDashboardBroker } from './browser.js'

t.test('first login: admin / public must choose a new password, then reaches the overview; logout ends the token', async (t) => {
  const b = await startDashboardBroker(t)
  const context = await launchBrowser(t)
  const page = await context.newPage()
  await page.goto(b.url)
  await page.getByRole('heading', { name: 'Sign in to Culex' }).waitFor()
  await screenshot(t, page, 'login')

  await page.getByLabel('User name').fill('admin')
  await page.getByLabel('Password').fill('wrong-password')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('alert').filter({ hasText: 'Wrong user name or password.' }).waitFor()
  t.pass('a wrong password is refused with a message')

  await page.getByLabel('Password').fill('public')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Change your password' }).waitFor()
  t.equal(await page.getByRole('navigation').count(), 0, 'nothing else before the password is changed')

  // A password the server's rules refuse (one kind of character), then a good one.
  await page.getByLabel('New password', { exact: true }).fill('onlyletters')
  await page.getByLabel('New password again').fill('onlyletters')
  await page.getByRole('button', { name: 'Change password' }).click()
  const refusal = await page.getByRole('alert').textContent()
  t.match(refusal, /BAD_REQUEST|password/i, `the server's rule is shown: ${refusal}`)

  await page.getByLabel('New password', { exact: true }).fill('Culex-admin-2026')
  await page.getByLabel('New password again').fill('Culex-admin-2026')
  await page.getByRole('button', { name: 'Change password' }).click()
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  t.pass('the overview after the change')

  const old = await call(b.base, '/api/v5/login', { method: 'POST', json: { username: 'admin', password: 'public' } })
  t.equal(old.status, 401, 'the default password no longer works')
  const token = await page.evaluate('JSON.parse(sessionStorage.getItem("culex.session")).token') as string
  const before = await call(b.base, '/api/v5/clients', { headers: { authorization: `Bearer ${token}` } })
  t.equal(before.status, 200, 'the page\'s token reaches the API')
  t.equal(await page.evaluate('localStorage.length + document.cookie.length'), 0, 'no token in localStorage or a cookie')

  await page.getByRole('button', { name: 'Log out' }).click()
  await page.getByRole('heading', { name: 'Sign in to Culex' }).waitFor()
  const after = await call(b.base, '/api/v5/clients', { headers: { authorization: `Bearer ${token}` } })
  t.equal(after.status, 401, 'logging out ended the token')
})
