// Dashboard login and users (EMQX's /api/v5/login, /logout, /users): the default administrator must change
// its password, the password rules, roles, sessions that end, and the brute-force lock.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { ADMIN, startApiBroker, tempDir, until, type ApiBroker, type CallInit } from './api-helpers.js'

const bearer = (token: string, init: CallInit = {}): CallInit => ({ ...init, auth: '', headers: { authorization: `Bearer ${token}` } })

async function login (b: ApiBroker, username: string, password: string) {
  return b.call('/api/v5/login', { method: 'POST', auth: '', json: { username, password } })
}

async function tokenOf (b: ApiBroker, username: string, password: string): Promise<string> {
  const r = await login(b, username, password)
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`)
  return r.json.token as string
}

t.test('the default administrator logs in, must change its password, and then has a full token', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const first = await login(b, 'admin', 'public')
  t.equal(first.status, 200)
  t.match(first.json, { role: 'administrator', version: String, license: { edition: 'opensource' }, password_change_required: true })
  t.match(first.json.token, /^[\w-]{40,}$/, 'a random token')
  const token = first.json.token as string

  const blocked = await b.call('/api/v5/clients', bearer(token))
  t.equal(blocked.status, 403)
  t.equal(blocked.json.code, 'PASSWORD_CHANGE_REQUIRED')
  t.match(blocked.json.message, /change_pwd/)
  const self = await b.call('/api/v5/users/admin', bearer(token))
  t.equal(self.status, 200)
  t.match(self.json, { username: 'admin', role: 'administrator', password_change_required: true })
  t.equal((await b.call('/api/v5/users', bearer(token))).json.code, 'PASSWORD_CHANGE_REQUIRED', 'not even the user list')

  const change = (oldPwd: string, newPwd: string) => b.call('/api/v5/users/admin/change_pwd', bearer(token, { method: 'POST', json: { old_pwd: oldPwd, new_pwd: newPwd } }))
  const rules: [string, RegExp][] = [
    ['short1', /8 to 64 characters/],
    ['onlyletters', /two kinds of characters/],
    ['12345678', /two kinds of characters/],
    ['pässwörd1x', /only ASCII/],
    ['x1'.repeat(33), /8 to 64 characters/],
  ]
  for (const [pwd, why] of rules) {
    const r = await change('public', pwd)
    t.equal(r.status, 400, `${pwd} refused`)
    t.equal(r.json.code, 'BAD_REQUEST')
    t.match(r.json.message, why)
  }
  const wrongOld = await change('not-public', 'Better-pass-1')
  t.equal(wrongOld.status, 400)
  t.equal(wrongOld.json.code, 'ERROR_PWD_NOT_MATCH')

  t.equal((await change('public', 'Better-pass-1')).status, 204)
  const stale = await b.call('/api/v5/users/admin', bearer(token))
  t.equal(stale.status, 401, 'the token of the default password is closed')
  t.equal(stale.json.code, 'BAD_TOKEN')
  t.match(stale.headers.get('www-authenticate'), /^Bearer/)
  const old = await login(b, 'admin', 'public')
  t.equal(old.status, 401)
  t.equal(old.json.code, 'BAD_USERNAME_OR_PWD')
  t.equal(old.headers.get('www-authenticate'), null, 'no challenge a browser would answer with a dialog')

  const again = await login(b, 'admin', 'Better-pass-1')
  t.equal(again.status, 200)
  t.equal(again.json.password_change_required, false)
  const clients = await b.call('/api/v5/clients', bearer(again.json.token))
  t.equal(clients.status, 200, 'the new token reaches the whole API')
  const stored = await b.call('/api/v5/users', bearer(again.json.token))
  t.same(stored.json, [{ username: 'admin', role: 'administrator', description: 'administrator', backend: 'local' }])
  t.notMatch(JSON.stringify(b.logs), /Better-pass-1/, 'no password in the log')

  const key = await b.call('/api/v5/users')
  t.equal(key.status, 401, 'an API key does not manage dashboard users (as EMQX)')
  t.equal(key.json.code, 'API_KEY_NOT_ALLOW')
  const unknown = await b.call('/api/v5/clients', bearer('made-up-token'))
  t.equal(unknown.status, 401)
  t.equal(unknown.json.code, 'BAD_TOKEN')
})

t.test('a default password that follows the rules still cannot be kept', async (t) => {
  const b = await startApiBroker(t, { config: { dashboard: { listeners: { http: { bind: '127.0.0.1:0' } }, default_username: 'root', default_password: 'Initial-pass-1' } } })
  const token = await tokenOf(b, 'root', 'Initial-pass-1')
  const r = await b.call('/api/v5/users/root/change_pwd', bearer(token, { method: 'POST', json: { old_pwd: 'Initial-pass-1', new_pwd: 'Initial-pass-1' } }))
  t.equal(r.status, 400)
  t.match(r.json.message, /default password/)
  t.equal((await login(b, 'admin', 'public')).status, 401, 'no admin user: default_username names the first administrator')
})

t.test('roles: a viewer reads, changes its own password and logs out; the last administrator stays', async (t) => {
  const b = await startApiBroker(t)
  const setup = await b.call('/api/v5/users/admin/change_pwd', { method: 'POST', json: { old_pwd: 'public', new_pwd: 'Admin-pass-1' } })
  t.equal(setup.status, 204, 'without API keys a local request without a token is an administrator, as before')
  const admin = await tokenOf(b, 'admin', 'Admin-pass-1')

  const weak = await b.call('/api/v5/users', bearer(admin, { method: 'POST', json: { username: 'ann', password: 'weak' } }))
  t.equal(weak.status, 400)
  const badName = await b.call('/api/v5/users', bearer(admin, { method: 'POST', json: { username: 'ann smith', password: 'Viewer-pass-1' } }))
  t.match(badName.json.message, /letters, digits and underscores/)
  const created = await b.call('/api/v5/users', bearer(admin, { method: 'POST', json: { username: 'ann', password: 'Viewer-pass-1', role: 'viewer', description: 'ops' } }))
  t.equal(created.status, 200)
  t.same(created.json, { username: 'ann', role: 'viewer', description: 'ops', backend: 'local' })
  const twice = await b.call('/api/v5/users', bearer(admin, { method: 'POST', json: { username: 'ann', password: 'Viewer-pass-1' } }))
  t.equal(twice.status, 400)
  t.match(twice.json.message, /already exists/)

  const viewer = await login(b, 'ann', 'Viewer-pass-1')
  t.match(viewer.json, { role: 'viewer', password_change_required: false })
  const ann = viewer.json.token as string
  t.equal((await b.call('/api/v5/clients', bearer(ann))).status, 200, 'a viewer reads')
  t.equal((await b.call('/api/v5/users', bearer(ann))).status, 200)
  const writes: [string, string, unknown][] = [
    ['POST', '/api/v5/banned', { as: 'clientid', who: 'x' }],
    ['POST', '/api/v5/users', { username: 'bob', password: 'Bob-pass-12' }],
    ['PUT', '/api/v5/users/ann', { role: 'administrator' }],
    ['DELETE', '/api/v5/users/admin', undefined],
    ['POST', '/api/v5/users/admin/change_pwd', { old_pwd: 'Admin-pass-1', new_pwd: 'Stolen-pass-1' }],
  ]
  for (const [method, path, json] of writes) {
    const r = await b.call(path, bearer(ann, { method, json }))
    t.equal(r.status, 403, `viewer ${method} ${path}`)
    t.equal(r.json.code, 'UNAUTHORIZED_ROLE')
  }
  t.equal((await b.call('/api/v5/users/ann/change_pwd', bearer(ann, { method: 'POST', json: { old_pwd: 'Viewer-pass-1', new_pwd: 'Viewer-pass-2' } }))).status, 204, 'a viewer changes its own password')
  const ann2 = await tokenOf(b, 'ann', 'Viewer-pass-2')
  const wrongUser = await b.call('/api/v5/logout', bearer(ann2, { method: 'POST', json: { username: 'admin' } }))
  t.equal(wrongUser.status, 401)
  t.equal(wrongUser.json.code, 'WRONG_TOKEN_OR_USERNAME')
  t.equal((await b.call('/api/v5/logout', bearer(ann2, { method: 'POST', json: { username: 'ann' } }))).status, 204)
  t.equal((await b.call('/api/v5/clients', bearer(ann2))).json.code, 'BAD_TOKEN', 'logout closes the token')

  const annAgain = await tokenOf(b, 'ann', 'Viewer-pass-2')
  const promoted = await b.call('/api/v5/users/ann', bearer(admin, { method: 'PUT', json: { role: 'administrator' } }))
  t.match(promoted.json, { username: 'ann', role: 'administrator', description: 'ops' }, 'the description stays')
  t.equal((await b.call('/api/v5/clients', bearer(annAgain))).status, 401, 'a new role closes the sessions')
  const annAdmin = await tokenOf(b, 'ann', 'Viewer-pass-2')
  const self = await b.call('/api/v5/users/ann', bearer(annAdmin, { method: 'DELETE' }))
  t.equal(self.status, 400)
  t.equal(self.json.code, 'NOT_ALLOWED')
  t.equal((await b.call('/api/v5/users/admin', bearer(annAdmin, { method: 'DELETE' }))).status, 204)
  t.equal((await b.call('/api/v5/clients', bearer(admin))).status, 401, 'a deleted user\'s token is closed')
  t.equal((await b.call('/api/v5/users/admin', bearer(annAdmin, { method: 'DELETE' }))).json.code, 'USER_NOT_FOUND')
  const last = await b.call('/api/v5/users/ann', { method: 'DELETE' })
  t.equal(last.status, 400)
  t.match(last.json, { code: 'NOT_ALLOWED', message: /last administrator/ })
  const demote = await b.call('/api/v5/users/ann', { method: 'PUT', json: { role: 'viewer' } })
  t.match(demote.json, { code: 'NOT_ALLOWED', message: /last administrator/ })
})

t.test('a token ends dashboard.token_expired_time after its last use', async (t) => {
  const b = await startApiBroker(t, { config: { dashboard: { listeners: { http: { bind: '127.0.0.1:0' } }, token_expired_time: '1s' } } })
  t.equal((await b.call('/api/v5/users/admin/change_pwd', { method: 'POST', json: { old_pwd: 'public', new_pwd: 'Admin-pass-1' } })).status, 204)
  const token = await tokenOf(b, 'admin', 'Admin-pass-1')
  t.equal((await b.call('/api/v5/clients', bearer(token))).status, 200)
  await until(() => b.logs.find((l) => l.msg === 'dashboard login session expired (dashboard.token_expired_time)' && l.username === 'admin'), 'the session expires', 20_000)
  const r = await b.call('/api/v5/clients', bearer(token))
  t.equal(r.status, 401)
  t.equal(r.json.code, 'BAD_TOKEN')
})

t.test('failed logins lock the user name, logged once with the peer', async (t) => {
  const b = await startApiBroker(t, { config: { dashboard: { listeners: { http: { bind: '127.0.0.1:0' } }, unsuccessful_login_max_attempts: 3 } } })
  for (let i = 0; i < 3; i++) t.equal((await login(b, 'admin', `guess-${i}`)).json.code, 'BAD_USERNAME_OR_PWD')
  const locked = await login(b, 'admin', 'public')
  t.equal(locked.status, 401, 'the right password is refused while locked')
  t.equal(locked.json.code, 'LOGIN_LOCKED')
  t.equal((await login(b, 'admin', 'guess-x')).json.code, 'LOGIN_LOCKED')
  const lines = b.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('dashboard login locked'))
  t.equal(lines.length, 1, 'one line per lock')
  t.match(lines[0], { username: 'admin', peer: '127.0.0.1', max_attempts: 3, lock_duration: '600s' })

  const hostile = `evil\n${'x'.repeat(300)}`
  for (let i = 0; i < 3; i++) t.equal((await login(b, hostile.slice(0, 100), 'nope')).status, 401, 'unknown names are counted too')
  t.equal((await login(b, hostile.slice(0, 100), 'nope')).json.code, 'LOGIN_LOCKED')
  const line = b.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('dashboard login locked')).at(-1)!
  t.equal(line.username, hostile.slice(0, 100), 'the hostile name is a JSON field')
  t.equal((await login(b, hostile, 'nope')).status, 400, 'a name longer than 100 characters is refused before any check')
})

t.test('dashboard.bootstrap_users_file adds users at start; a bad line stops start-up', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'users.txt')
  await writeFile(file, '# dashboard users\nops:Ops-pass-123:administrator\nwatcher:Watch-pass-1:viewer\n')
  const b = await startApiBroker(t, { config: { dashboard: { listeners: { http: { bind: '127.0.0.1:0' } }, bootstrap_users_file: file } } })
  const ops = await login(b, 'ops', 'Ops-pass-123')
  t.match(ops.json, { role: 'administrator', password_change_required: false })
  t.match((await login(b, 'watcher', 'Watch-pass-1')).json, { role: 'viewer' })
  t.equal((await login(b, 'admin', 'public')).status, 401, 'an administrator exists: no default one')

  await writeFile(file, 'ops:Ops-pass-123\nweak:weak\n')
  const refused = startApiBroker(t, { config: { dashboard: { listeners: { http: { bind: '127.0.0.1:0' } }, bootstrap_users_file: file } } })
  await t.rejects(refused, { code: 'CULEX_ERR_DASHBOARD_USERS', message: /users\.txt:2: bad password/ })
})

t.test('users and changed passwords outlive a restart; a logout needs no body', async (t) => {
  const dir = await tempDir(t)
  const config = { node: { data_dir: dir }, dashboard: { listeners: { http: { bind: '127.0.0.1:0' } } } }
  const first = await startApiBroker(t, { config })
  t.equal((await first.call('/api/v5/users/admin/change_pwd', { method: 'POST', json: { old_pwd: 'public', new_pwd: 'Kept-pass-1' } })).status, 204)
  t.equal((await first.call('/api/v5/users', { method: 'POST', json: { username: 'ann', password: 'Viewer-pass-1', role: 'viewer' } })).status, 200)
  const token = await tokenOf(first, 'admin', 'Kept-pass-1')
  await first.close()

  const second = await startApiBroker(t, { config })
  t.equal((await login(second, 'admin', 'public')).status, 401, 'the default password is not restored')
  t.match((await login(second, 'ann', 'Viewer-pass-1')).json, { role: 'viewer' })
  t.equal((await second.call('/api/v5/clients', bearer(token))).status, 401, 'tokens are not kept')
  const fresh = await tokenOf(second, 'admin', 'Kept-pass-1')
  const out = await second.call('/api/v5/logout', bearer(fresh, { method: 'POST' }))
  t.equal(out.status, 204)
  t.equal((await second.call('/api/v5/users', bearer(fresh))).status, 401)
})
