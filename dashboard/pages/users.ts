// Users: the dashboard's users and their roles (administrator, viewer). An administrator adds, edits (role,
// description) and deletes users; everyone changes their own password (the server then closes that user's
// sessions, so the dashboard signs in again).
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, seg } from '../api'
import { t } from '../i18n'
import { navigate } from '../router'
import { session, signOut, useCanWrite } from '../session'
import { text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { Input, Select } from '../components/field'
import { PageHeader, Section } from '../components/page'
import { attempt, confirmed } from '../components/action'

interface User { username: string, role: 'administrator' | 'viewer', description: string }

const ROLES = () => [{ value: 'administrator', label: t('role.administrator') }, { value: 'viewer', label: t('role.viewer') }]
const NEW = { username: '', password: '', role: 'viewer', description: '' }

export function Users () {
  const canWrite = useCanWrite()
  const me = session.use()
  const users = useApi<User[]>('/users')
  const [form, setForm] = useState(NEW)
  const [editing, setEditing] = useState<User | null>(null)
  const add = async (e: Event) => {
    e.preventDefault()
    if (await attempt(t('users.added', { user: form.username }), () => api('/users', { method: 'POST', body: form }))) { setForm(NEW); users.reload() }
  }
  const save = async (e: Event) => {
    e.preventDefault()
    if (editing && await attempt(t('users.saved', { user: editing.username }), () => api(`/users/${seg(editing.username)}`, { method: 'PUT', body: { role: editing.role, description: editing.description } }))) { setEditing(null); users.reload() }
  }
  const remove = (u: User) => confirmed({
    title: t('users.delete_title'), message: t('users.delete_message', { user: u.username }), confirm: t('action.delete'), done: t('users.deleted', { user: u.username }),
  }, () => api(`/users/${seg(u.username)}`, { method: 'DELETE' })).then((ok) => { if (ok) users.reload() })
  return html`
    <${PageHeader} title=${t('nav.users')} />
    ${me ? html`<${ChangePassword} username=${me.username} />` : null}
    ${canWrite ? html`
      <${Section} title=${t('users.add')}>
        <form class="filters" onSubmit=${add} aria-label=${t('users.add')}>
          <${Input} label="users.username" name="username" value=${form.username} onValue=${(v: string) => setForm({ ...form, username: v })} required />
          <${Input} label="login.password" name="password" type="password" autocomplete="new-password" value=${form.password} onValue=${(v: string) => setForm({ ...form, password: v })} required />
          <${Select} label="users.role" name="role" value=${form.role} onValue=${(v: string) => setForm({ ...form, role: v })} options=${ROLES()} />
          <${Input} label="users.description" name="description" value=${form.description} onValue=${(v: string) => setForm({ ...form, description: v })} />
          <div class="filter-actions"><button type="submit" class="primary">${t('users.add')}</button></div>
        </form>
      </${Section}>` : null}
    ${editing ? html`
      <${Section} title=${t('users.edit_title', { user: editing.username })}>
        <form class="filters" onSubmit=${save} aria-label=${t('users.edit_title', { user: editing.username })}>
          <${Select} label="users.role" name="edit_role" value=${editing.role} onValue=${(v: string) => setEditing({ ...editing, role: v as User['role'] })} options=${ROLES()} />
          <${Input} label="users.description" name="edit_description" value=${editing.description} onValue=${(v: string) => setEditing({ ...editing, description: v })} />
          <div class="filter-actions">
            <button type="submit" class="primary">${t('authn.save')}</button>
            <button type="button" onClick=${() => setEditing(null)}>${t('action.cancel')}</button>
          </div>
        </form>
      </${Section}>` : null}
    <${Loadable} state=${users}>${(list: User[]) => html`
      <${DataTable} caption=${t('nav.users')} rows=${list} rowKey=${(u: User) => u.username} columns=${[
        { label: 'users.username', value: (u: User) => u.username },
        { label: 'users.role', value: (u: User) => t(u.role === 'viewer' ? 'role.viewer' : 'role.administrator') },
        { label: 'users.description', value: (u: User) => text(u.description) },
        ...(canWrite ? [{ label: 'retained.actions' as const, value: (u: User) => html`<div class="row-actions">
          <button type="button" class="link" onClick=${() => setEditing(u)} aria-label=${t('users.edit_named', { user: u.username })}>${t('authn.edit')}</button>
          ${u.username === me?.username ? null : html`<button type="button" class="link danger" onClick=${() => remove(u)} aria-label=${t('users.delete_named', { user: u.username })}>${t('action.delete')}</button>`}
        </div>` }] : []),
      ]} />`}</${Loadable}>`
}

function ChangePassword ({ username }: { username: string }) {
  const [pw, setPw] = useState({ old: '', next: '', again: '' })
  const mismatch = pw.again !== '' && pw.again !== pw.next
  const change = async (e: Event) => {
    e.preventDefault()
    if (mismatch) return
    const ok = await attempt(t('users.pwd_changed'), () => api(`/users/${seg(username)}/change_pwd`, { method: 'POST', body: { old_pwd: pw.old, new_pwd: pw.next } }))
    // The server closed this user's sessions: sign in again with the new password.
    if (ok) { signOut(); navigate('login') }
  }
  return html`
    <${Section} title=${t('password.title')}>
      <form class="filters" onSubmit=${change} aria-label=${t('password.title')}>
        <${Input} label="users.old_pwd" name="old_pwd" type="password" autocomplete="current-password" value=${pw.old} onValue=${(v: string) => setPw({ ...pw, old: v })} required />
        <${Input} label="password.new" name="new_pwd" type="password" autocomplete="new-password" value=${pw.next} onValue=${(v: string) => setPw({ ...pw, next: v })} required />
        <${Input} label="password.again" name="again" type="password" autocomplete="new-password" value=${pw.again} onValue=${(v: string) => setPw({ ...pw, again: v })} required error=${mismatch ? t('password.mismatch') : undefined} />
        <div class="filter-actions"><button type="submit" class="primary" disabled=${mismatch}>${t('password.submit')}</button></div>
      </form>
    </${Section}>`
}
