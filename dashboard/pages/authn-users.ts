// The users of a built-in password database (#/authentication/users/<id>): list and search, add one, import
// several (CSV with a header line user_id,password[,is_superuser], or a JSON array of such objects, as EMQX's
// bootstrap files; the server has no import endpoint, so each is added in turn), delete.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, ApiError, seg, type Paged } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input } from '../components/field'
import { Checkbox, TextArea } from '../components/form-extra'
import { PageHeader, Section } from '../components/page'
import { attempt, confirmed } from '../components/action'
import { FilterForm, useFilters } from '../components/filters'
import { toast } from '../components/toast'

interface User { user_id: string, is_superuser: boolean }
interface NewUser { user_id: string, password: string, is_superuser: boolean }

/** CSV (header line first) or a JSON array into users; an Error naming the line at fault otherwise. */
export function parseUsers (text: string): NewUser[] {
  const trimmed = text.trim()
  if (trimmed.startsWith('[')) {
    let list: unknown
    try { list = JSON.parse(trimmed) } catch (err) { throw new Error(t('users_import.bad_json', { why: (err as Error).message })) }
    return (list as unknown[]).map((u, i) => {
      const o = (u ?? {}) as Record<string, unknown>
      if (typeof o.user_id !== 'string' || typeof o.password !== 'string') throw new Error(t('users_import.bad_entry', { n: i + 1 }))
      return { user_id: o.user_id, password: o.password, is_superuser: o.is_superuser === true || o.is_superuser === 'true' }
    })
  }
  const lines = trimmed.split(/\r?\n/)
  const header = (lines.shift() ?? '').split(',').map((s) => s.trim())
  const at = (name: string) => header.indexOf(name)
  if (at('user_id') < 0 || at('password') < 0) throw new Error(t('users_import.bad_header'))
  return lines.filter((l) => l.trim() !== '').map((line, i) => {
    const cells = line.split(',')
    const userId = cells[at('user_id')]?.trim()
    const password = cells[at('password')]
    if (!userId || password === undefined) throw new Error(t('users_import.bad_line', { n: i + 2 }))
    return { user_id: userId, password, is_superuser: at('is_superuser') >= 0 && cells[at('is_superuser')]?.trim() === 'true' }
  })
}

const NEW = { user_id: '', password: '', is_superuser: false }

export function AuthnUsers ({ id }: { id: string }) {
  const canWrite = useCanWrite()
  const filters = useFilters({ like_user_id: '' })
  const [form, setForm] = useState(NEW)
  const [bulk, setBulk] = useState('')
  const [bulkError, setBulkError] = useState<string | undefined>(undefined)
  const path = `/authentication/${seg(id)}/users`
  const users = useApi<Paged<User>>(path, { ...filters.applied, page: filters.page, limit: 50 })
  const add = async (e: Event) => {
    e.preventDefault()
    if (await attempt(t('users_db.added', { user: form.user_id }), () => api(path, { method: 'POST', body: form }))) { setForm(NEW); users.reload() }
  }
  const importAll = async (e: Event) => {
    e.preventDefault()
    let list: NewUser[]
    try { list = parseUsers(bulk) } catch (err) { setBulkError((err as Error).message); return }
    setBulkError(undefined)
    const failed: string[] = []
    for (const u of list) {
      try { await api(path, { method: 'POST', body: u }) } catch (err) { failed.push(`${u.user_id} (${err instanceof ApiError ? err.message : (err as Error).message})`) }
    }
    if (failed.length > 0) setBulkError(t('users_import.failed', { failed: failed.join(', ') }))
    else setBulk('')
    toast(t('users_import.done', { added: list.length - failed.length, total: list.length }), failed.length > 0 ? 'error' : 'ok')
    users.reload()
  }
  const remove = (u: User) => confirmed({
    title: t('users_db.delete_title'), message: t('users_db.delete_message', { user: u.user_id }), confirm: t('action.delete'), done: t('users_db.deleted', { user: u.user_id }),
  }, () => api(`${path}/${seg(u.user_id)}`, { method: 'DELETE' })).then((ok) => { if (ok) users.reload() })
  return html`
    <${PageHeader} title=${t('users_db.title', { id })}>
      <a href="#/authentication">${t('users_db.back')}</a>
    </${PageHeader}>
    ${canWrite ? html`
      <${Section} title=${t('users_db.add')}>
        <form class="filters" onSubmit=${add} aria-label=${t('users_db.add')}>
          <${Input} label="users_db.user_id" name="user_id" value=${form.user_id} onValue=${(v: string) => setForm({ ...form, user_id: v })} required />
          <${Input} label="users_db.password" name="password" type="password" autocomplete="new-password" value=${form.password} onValue=${(v: string) => setForm({ ...form, password: v })} required />
          <${Checkbox} label="users_db.is_superuser" name="is_superuser" checked=${form.is_superuser} onChecked=${(v: boolean) => setForm({ ...form, is_superuser: v })} />
          <div class="filter-actions"><button type="submit" class="primary">${t('users_db.add')}</button></div>
        </form>
      </${Section}>
      <${Section} title=${t('users_import.title')}>
        <form class="filters" onSubmit=${importAll} aria-label=${t('users_import.title')}>
          <${TextArea} label="users_import.text" name="import" value=${bulk} onValue=${setBulk} error=${bulkError} hint=${t('users_import.hint')} />
          <div class="filter-actions"><button type="submit" class="primary">${t('users_import.submit')}</button></div>
        </form>
      </${Section}>` : null}
    <${FilterForm} label=${t('users_db.search')} filters=${filters}>
      <${Input} label="users_db.user_id" ...${filters.field('like_user_id')} />
    </${FilterForm}>
    <${Loadable} state=${users}>${(paged: Paged<User>) => html`
      <${DataTable} caption=${t('users_db.caption')} rows=${paged.data} rowKey=${(u: User) => u.user_id} columns=${[
        { label: 'users_db.user_id', value: (u: User) => u.user_id },
        { label: 'users_db.is_superuser', value: (u: User) => t(u.is_superuser ? 'value.yes' : 'value.no') },
        ...(canWrite ? [{ label: 'retained.actions' as const, value: (u: User) => html`<button type="button" class="link danger" onClick=${() => remove(u)} aria-label=${t('users_db.delete_named', { user: u.user_id })}>${t('action.delete')}</button>` }] : []),
      ]} />
      <${Pager} page=${filters.page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${filters.setPage} />`}</${Loadable}>`
}
