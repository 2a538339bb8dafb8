// Authentication: the authenticator chain, global or a listener's own; reorder (move up/down), enable or
// disable, create, edit and delete authenticators, what each answered (status); the users of the built-in
// database (#/authentication/users/<id>).
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, seg } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { num } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { Select } from '../components/field'
import { PageHeader } from '../components/page'
import { attempt, confirmed } from '../components/action'
import { MoveButtons, moved, useRefocus } from '../components/reorder'
import { AuthnForm, type Config } from './authn-form'
import { AuthnUsers } from './authn-users'

interface Status { status: string, metrics: { total: number, success: number, failed: number, nomatch: number } }

export function Authentication ({ route }: { route: string[] }) {
  if (route[0] === 'users' && route[1]) return html`<${AuthnUsers} id=${route[1]} />`
  return html`<${Chain} />`
}

function Chain () {
  const canWrite = useCanWrite()
  const [listener, setListener] = useState('')
  const [form, setForm] = useState<{ editing: Config | null } | null>(null)
  const listeners = useApi<{ id: string }[]>('/listeners')
  const base = listener === '' ? '/authentication' : `/listeners/${seg(listener)}/authentication`
  const chain = useApi<Config[]>(base, undefined, 5000)
  const refocus = useRefocus(chain.data)
  const reorder = async (ids: string[], id: string, by: -1 | 1) => {
    if (!(await attempt(t('order.saved'), () => api(`${base}/order`, { method: 'PUT', body: ids.map((x) => ({ id: x })) })))) return
    refocus(id, by < 0 ? 'up' : 'down')
    chain.reload()
  }
  const toggle = async (c: Config) => {
    const enable = c.enable === false
    if (await attempt(t(enable ? 'authn.enabled_done' : 'authn.disabled_done', { id: c.id }), () => api(`${base}/${seg(c.id)}`, { method: 'PUT', body: { ...c, enable } }))) chain.reload()
  }
  const remove = (c: Config) => confirmed({
    title: t('authn.delete_title'), message: t('authn.delete_message', { id: c.id }), confirm: t('action.delete'), done: t('authn.deleted', { id: c.id }),
  }, () => api(`${base}/${seg(c.id)}`, { method: 'DELETE' })).then((ok) => { if (ok) chain.reload() })
  const chainOptions = [{ value: '', label: t('authn.global') }, ...(listeners.data ?? []).map((l) => ({ value: l.id, label: l.id }))]
  return html`
    <${PageHeader} title=${t('nav.authentication')}>
      ${canWrite && !form ? html`<button type="button" class="primary" onClick=${() => setForm({ editing: null })}>${t('authn.add')}</button>` : null}
    </${PageHeader}>
    <div class="filters card">
      <${Select} label="authn.chain" name="chain" value=${listener} onValue=${(v: string) => { setListener(v); setForm(null) }} options=${chainOptions} />
      <p class="note">${t(listener === '' ? 'authn.global_note' : 'authn.listener_note')}</p>
    </div>
    ${form ? html`<${AuthnForm} key=${form.editing?.id ?? 'new'} base=${base} editing=${form.editing} onCancel=${() => setForm(null)} onDone=${() => { setForm(null); chain.reload() }} />` : null}
    <${Loadable} state=${chain}>${(list: Config[]) => html`
      <${DataTable} caption=${t('authn.chain_caption')} rows=${list} rowKey=${(c: Config) => c.id} columns=${[
        { label: 'authn.position', value: (c: Config) => list.indexOf(c) + 1, numeric: true },
        { label: 'authn.id', value: (c: Config) => html`<code>${c.id}</code>` },
        { label: 'authn.enable', value: (c: Config) => c.enable === false ? html`<span class="badge off">${t('authn.disabled')}</span>` : html`<span class="badge ok">${t('authn.enabled')}</span>` },
        { label: 'authn.status', value: (c: Config) => html`<${AuthnStatus} path=${`${base}/${seg(c.id)}/status`} />` },
        { label: 'retained.actions', value: (c: Config) => {
          const i = list.indexOf(c)
          const ids = list.map((x) => x.id)
          return html`<div class="row-actions">
            ${canWrite ? html`
              <${MoveButtons} name=${c.id} index=${i} count=${list.length} onMove=${(by: -1 | 1) => reorder(moved(ids, i, by), c.id, by)} />
              <button type="button" class="link" onClick=${() => toggle(c)} aria-label=${t(c.enable === false ? 'authn.enable_named' : 'authn.disable_named', { id: c.id })}>${t(c.enable === false ? 'authn.enable_action' : 'authn.disable_action')}</button>
              <button type="button" class="link" onClick=${() => setForm({ editing: c })} aria-label=${t('authn.edit_named', { id: c.id })}>${t('authn.edit')}</button>
              <button type="button" class="link danger" onClick=${() => remove(c)} aria-label=${t('authn.delete_named', { id: c.id })}>${t('action.delete')}</button>` : null}
            ${listener === '' && c.backend === 'built_in_database' ? html`<a href=${`#/authentication/users/${seg(c.id)}`} aria-label=${t('authn.users_named', { id: c.id })}>${t('authn.users')}</a>` : null}
          </div>`
        } },
      ]} />`}</${Loadable}>`
}

function AuthnStatus ({ path }: { path: string }) {
  const status = useApi<Status>(path, undefined, 5000)
  const s = status.data
  if (!s) return html`<span class="note">—</span>`
  const m = s.metrics
  return html`<span class=${`badge ${s.status === 'connected' ? 'ok' : 'bad'}`}>${s.status === 'connected' ? t('authn.connected') : t('authn.disconnected')}</span>
    <span class="note"> ${t('authn.metrics', { total: num(m.total), success: num(m.success), failed: num(m.failed), nomatch: num(m.nomatch) })}</span>`
}
