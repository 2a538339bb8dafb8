// The Authentication page in a real browser: a JWT authenticator made from the form with seed 004's secret
// accepts the seed's token and refuses a wrong one; the built-in database is added, moved up and its users
// added and imported from the page, then connect; enable/disable; the viewer sees no write control.
import t from 'tap'
import { SignJWT } from 'jose'
import { until } from '../helpers.js'
import { connack } from '../auth/authn-helpers.js'
import { axeViolations, launchBrowser, login, openSignedIn, screenshot, startDashboardBroker } from './browser.js'

// Seed 004: the console's default JWT settings accept this token (HS256, secret emqxsecret, password field).
// Its claims are {sub: "EMQX Cloud", iat: 1516239022} with no exp: it does not expire.
const SEED_TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJFTVFYIENsb3VkIiwiaWF0IjoxNTE2MjM5MDIyfQ.-k9Ggc6L_Jxq4uUf9xwdJpwRrS3PquL-JZKtAJoOvBo'
const SECRET = 'emqxsecret'
const DB = 'password_based:built_in_database'

t.test('JWT from the form, the built-in database and its users, reorder and disable', async (t) => {
  const b = await startDashboardBroker(t)
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'authentication')
  await page.getByRole('heading', { level: 1, name: 'Authentication' }).waitFor()

  await page.getByRole('button', { name: 'Add an authenticator' }).click()
  const form = page.getByRole('form', { name: 'Add an authenticator' })
  t.equal(await form.getByLabel('Mechanism').inputValue(), 'jwt', 'JWT is the first choice')
  t.equal(await form.getByLabel('JWT from').inputValue(), 'password')
  t.equal(await form.getByLabel('Algorithm').inputValue(), 'hmac-based')
  t.ok(await form.getByLabel('Disconnect when the token expires').isChecked(), 'disconnect_after_expire defaults on')
  await form.getByLabel('Secret', { exact: true }).fill(SECRET)
  await form.getByLabel('Claims to verify').fill('sub = EMQX Cloud')
  t.same(await axeViolations(page), [], 'the JWT form: no serious or critical axe-core violation')
  await screenshot(t, page, 'authentication-jwt')
  await form.getByRole('button', { name: 'Create' }).click()
  const chain = page.getByRole('table', { name: 'Authenticators, in the order they are asked' })
  await chain.getByRole('cell', { name: 'jwt', exact: true }).waitFor()
  const jwt = (await b.call('/api/v5/authentication/jwt')).json
  t.match(jwt, { mechanism: 'jwt', from: 'password', algorithm: 'hmac-based', secret: '******', verify_claims: { sub: 'EMQX Cloud' }, enable: true }, 'the API has what the form said')

  t.equal(await connack(b.tcpPort, { clientId: 'seed', username: 'anyone', password: SEED_TOKEN }), 0, 'the seed token connects')
  const wrong = await new SignJWT({ sub: 'EMQX Cloud' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(Buffer.from('not-the-secret'))
  t.equal(await connack(b.tcpPort, { clientId: 'wrong', username: 'anyone', password: wrong }), 0x87, 'a token signed with another secret is refused')
  const otherSub = await new SignJWT({ sub: 'someone' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(Buffer.from(SECRET))
  t.equal(await connack(b.tcpPort, { clientId: 'other', username: 'anyone', password: otherSub }), 0x86, 'verify_claims from the form is in force: another sub is refused')
  await until(async () => /3 asked · 1 accepted · 1 refused · 1 no match/.test(await chain.getByRole('row').nth(1).textContent() ?? ''), 'the status column counts the answers', 15_000)

  await page.getByRole('button', { name: 'Add an authenticator' }).click()
  await form.getByLabel('Mechanism').selectOption(DB)
  await form.getByLabel('Password hash').selectOption('bcrypt')
  await form.getByRole('button', { name: 'Create' }).click()
  await chain.getByRole('cell', { name: DB, exact: true }).waitFor()
  t.equal(await page.getByRole('button', { name: 'Move up: jwt' }).isDisabled(), true, 'the first cannot move up')
  await page.getByRole('button', { name: `Move up: ${DB}` }).focus()
  await page.keyboard.press('Enter')
  await until(async () => (await b.call('/api/v5/authentication')).json[0]?.id === DB, 'the database moved first')
  await until(async () => await page.evaluate('document.activeElement?.getAttribute("aria-label")') === `Move down: ${DB}`, 'the focus follows the moved row')
  t.match((await b.call(`/api/v5/authentication/${encodeURIComponent(DB)}`)).json, { password_hash_algorithm: { name: 'bcrypt' } }, 'the hash chosen on the form')

  await page.getByRole('link', { name: `Users of ${DB}` }).click()
  await page.getByRole('heading', { level: 1, name: `Users of ${DB}` }).waitFor()
  const add = page.getByRole('form', { name: 'Add a user' })
  await add.getByLabel('User id').fill('alice')
  await add.getByLabel('Password').fill('alice-pw-1')
  await add.getByRole('button', { name: 'Add a user' }).click()
  const users = page.getByRole('table', { name: 'Users' })
  await users.getByRole('cell', { name: 'alice', exact: true }).waitFor()
  t.equal(await connack(b.tcpPort, { clientId: 'alice-1', username: 'alice', password: 'alice-pw-1' }), 0, 'the user added on the page connects')
  t.equal(await connack(b.tcpPort, { clientId: 'alice-2', username: 'alice', password: 'wrong' }), 0x86, 'with a wrong password: bad user name or password')
  t.equal(await connack(b.tcpPort, { clientId: 'seed-2', username: 'anyone', password: SEED_TOKEN }), 0, 'an unknown user falls through to JWT')

  const importForm = page.getByRole('form', { name: 'Import users' })
  await importForm.getByLabel('Users to import').fill('user_id,password\nbob')
  await importForm.getByRole('button', { name: 'Import' }).click()
  await importForm.getByRole('alert').filter({ hasText: 'Line 2 needs a user id and a password.' }).waitFor()
  await importForm.getByLabel('Users to import').fill('user_id,password,is_superuser\nbob,bob-pw-1,false\ncarol,carol-pw-1,true\nalice,again,false')
  await importForm.getByRole('button', { name: 'Import' }).click()
  await importForm.getByRole('alert').filter({ hasText: /Not added: alice/ }).waitFor()
  await users.getByRole('cell', { name: 'carol', exact: true }).waitFor()
  t.match((await b.call(`/api/v5/authentication/${encodeURIComponent(DB)}/users/carol`)).json, { user_id: 'carol', is_superuser: true }, 'imported with is_superuser')
  t.equal(await connack(b.tcpPort, { clientId: 'bob-1', username: 'bob', password: 'bob-pw-1' }), 0, 'an imported user connects')
  await screenshot(t, page, 'authentication-users')

  await page.getByRole('button', { name: 'Delete user bob' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
  await until(async () => await users.getByRole('cell', { name: 'bob', exact: true }).count() === 0, 'bob is gone')
  t.equal((await b.call(`/api/v5/authentication/${encodeURIComponent(DB)}/users/bob`)).status, 404, 'deleted on the server')

  await page.getByRole('link', { name: 'Back to authentication' }).click()
  await page.getByRole('button', { name: 'Disable jwt' }).click()
  await chain.getByRole('button', { name: 'Enable jwt' }).waitFor()
  t.equal((await b.call('/api/v5/authentication/jwt')).json.enable, false, 'disabled through the page')
  t.equal((await b.call('/api/v5/authentication/jwt')).json.verify_claims.sub, 'EMQX Cloud', 'the rest of its settings stayed')
  t.equal(await connack(b.tcpPort, { clientId: 'seed-3', username: 'anyone', password: SEED_TOKEN }), 0x87, 'a disabled JWT authenticator no longer accepts the token: no authenticator left')
  await screenshot(t, page, 'authentication')
})

t.test('a listener\'s own chain, and the viewer', async (t) => {
  const b = await startDashboardBroker(t)
  await b.call('/api/v5/authentication', { method: 'POST', json: { mechanism: 'jwt', secret: SECRET } })
  const context = await launchBrowser(t)
  const page = await openSignedIn(context, b, 'authentication')
  await page.getByLabel('Chain').selectOption('tcp:default')
  await page.getByText('This listener\'s own chain').waitFor()
  await page.getByRole('button', { name: 'Add an authenticator' }).click()
  await page.getByLabel('Mechanism').selectOption('cert')
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('table', { name: 'Authenticators, in the order they are asked' }).getByRole('cell', { name: 'cert', exact: true }).waitFor()
  t.same((await b.call('/api/v5/listeners/tcp:default/authentication')).json.map((a: { id: string }) => a.id), ['cert'], 'the listener chain has it')
  t.same((await b.call('/api/v5/authentication')).json.map((a: { id: string }) => a.id), ['jwt'], 'the global chain is unchanged')

  const viewer = await openSignedIn(await launchBrowser(t), b, 'authentication', 'viewer')
  await viewer.getByRole('cell', { name: 'jwt', exact: true }).waitFor()
  t.equal(await viewer.getByRole('button', { name: /Add an authenticator|Move|Disable|Edit|Delete/ }).count(), 0, 'no write control for a viewer')
  const { token } = await login(b, 'viewer')
  const denied = await b.call('/api/v5/authentication/jwt', { method: 'PUT', json: { mechanism: 'jwt', secret: 'x', enable: false }, headers: { authorization: `Bearer ${token}` } })
  t.equal(denied.status, 403, 'the viewer\'s own token cannot change an authenticator either')
  t.equal((await b.call('/api/v5/authentication/jwt')).json.enable, true, 'it stayed enabled')
})
