// Authorization: the sources in the order they are asked (move up/down, enable/disable, what each answered),
// the settings (no_match, deny_action, cache) and clearing the cache, the file source's acl.conf editor and
// the built-in database's rules.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { api, seg } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { num } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { Input, Select } from '../components/field'
import { Checkbox } from '../components/form-extra'
import { PageHeader, Section } from '../components/page'
import { attempt, confirmed } from '../components/action'
import { MoveButtons, moved, useRefocus } from '../components/reorder'
import { AclEditor } from './authz-file'
import { AuthzRules } from './authz-rules'

export interface Source extends Record<string, unknown> { type: string, enable: boolean }
interface Status { status: string, metrics: { total: number, allow: number, deny: number, nomatch: number } }
interface Settings { no_match: string, deny_action: string, cache: { enable: boolean, max_size: number, ttl: string, excludes: string[] } }

/** Sources the page can add with nothing to fill in. */
const SIMPLE: Record<string, Source> = {
  file: { type: 'file', enable: true, rules: '{allow, all}.\n' },
  built_in_database: { type: 'built_in_database', enable: true },
}

export function Authorization () {
  const canWrite = useCanWrite()
  const sources = useApi<{ sources: Source[] }>('/authorization/sources', undefined, 5000)
  const refocus = useRefocus(sources.data)
  const list = sources.data?.sources ?? []
  const reorder = async (types: string[], type: string, by: -1 | 1) => {
    if (!(await attempt(t('order.saved'), () => api('/authorization/sources/order', { method: 'PUT', body: types.map((x) => ({ type: x })) })))) return
    refocus(type, by < 0 ? 'up' : 'down')
    sources.reload()
  }
  const toggle = async (s: Source) => {
    if (await attempt(t(s.enable ? 'authn.disabled_done' : 'authn.enabled_done', { id: s.type }), () => api(`/authorization/sources/${seg(s.type)}`, { method: 'PUT', body: { ...s, enable: !s.enable } }))) sources.reload()
  }
  const add = async (type: string) => {
    if (await attempt(t('authz.added', { type }), () => api('/authorization/sources', { method: 'POST', body: SIMPLE[type] }))) sources.reload()
  }
  const file = list.find((s) => s.type === 'file')
  const missing = Object.keys(SIMPLE).filter((type) => !list.some((s) => s.type === type))
  return html`
    <${PageHeader} title=${t('nav.authorization')}>
      ${canWrite && sources.data ? missing.map((type) => html`<button type="button" onClick=${() => add(type)}>${t('authz.add', { type })}</button>`) : null}
    </${PageHeader}>
    <${Section} title=${t('authz.sources')}>
      <${Loadable} state=${sources}>${() => html`
        <${DataTable} caption=${t('authz.sources_caption')} rows=${list} rowKey=${(s: Source) => s.type} columns=${[
          { label: 'authn.position', value: (s: Source) => list.indexOf(s) + 1, numeric: true },
          { label: 'authz.type', value: (s: Source) => html`<code>${s.type}</code>` },
          { label: 'authn.enable', value: (s: Source) => s.enable ? html`<span class="badge ok">${t('authn.enabled')}</span>` : html`<span class="badge off">${t('authn.disabled')}</span>` },
          { label: 'authn.status', value: (s: Source) => html`<${SourceStatus} type=${s.type} />` },
          ...(canWrite ? [{ label: 'retained.actions' as const, value: (s: Source) => {
            const i = list.indexOf(s)
            return html`<div class="row-actions">
              <${MoveButtons} name=${s.type} index=${i} count=${list.length} onMove=${(by: -1 | 1) => reorder(moved(list.map((x) => x.type), i, by), s.type, by)} />
              <button type="button" class="link" onClick=${() => toggle(s)} aria-label=${t(s.enable ? 'authn.disable_named' : 'authn.enable_named', { id: s.type })}>${t(s.enable ? 'authn.disable_action' : 'authn.enable_action')}</button>
            </div>`
          } }] : []),
        ]} />`}</${Loadable}>
    </${Section}>
    <${SettingsForm} />
    ${file ? html`<${AclEditor} source=${file} onSaved=${sources.reload} />` : null}
    ${list.some((s) => s.type === 'built_in_database') ? html`<${AuthzRules} />` : null}`
}

function SourceStatus ({ type }: { type: string }) {
  const status = useApi<Status>(`/authorization/sources/${seg(type)}/status`, undefined, 5000)
  const s = status.data
  if (!s) return html`<span class="note">—</span>`
  const m = s.metrics
  return html`<span class=${`badge ${s.status === 'connected' ? 'ok' : 'bad'}`}>${s.status === 'connected' ? t('authn.connected') : t('authn.disconnected')}</span>
    <span class="note"> ${t('authz.metrics', { total: num(m.total), allow: num(m.allow), deny: num(m.deny), nomatch: num(m.nomatch) })}</span>`
}

function SettingsForm () {
  const canWrite = useCanWrite()
  const settings = useApi<Settings>('/authorization/settings')
  const [form, setForm] = useState<Settings | null>(null)
  useEffect(() => { if (settings.data) setForm(settings.data) }, [settings.data])
  const save = async (e: Event) => {
    e.preventDefault()
    if (form && await attempt(t('authz.settings_saved'), () => api('/authorization/settings', { method: 'PUT', body: form }))) settings.reload()
  }
  const clear = () => confirmed({ title: t('authz.clear_title'), message: t('authz.clear_message'), confirm: t('authz.clear'), done: t('authz.cleared') },
    () => api('/authorization/cache', { method: 'DELETE' }))
  const cache = (patch: Partial<Settings['cache']>) => form && setForm({ ...form, cache: { ...form.cache, ...patch } })
  return html`
    <${Section} title=${t('authz.settings')}>
      <${Loadable} state=${settings}>${() => form ? html`
        <form class="filters" onSubmit=${save} aria-label=${t('authz.settings')}>
          <fieldset class="plain" disabled=${!canWrite}>
            <legend class="sr-only">${t('authz.settings')}</legend>
            <div class="filters">
              <${Select} label="authz.no_match" name="no_match" value=${form.no_match} onValue=${(v: string) => setForm({ ...form, no_match: v })} options=${['allow', 'deny'].map((v) => ({ value: v, label: v }))} />
              <${Select} label="authz.deny_action" name="deny_action" value=${form.deny_action} onValue=${(v: string) => setForm({ ...form, deny_action: v })} options=${['ignore', 'disconnect'].map((v) => ({ value: v, label: v }))} />
              <${Checkbox} label="authz.cache_enable" name="cache_enable" checked=${form.cache.enable} onChecked=${(v: boolean) => cache({ enable: v })} />
              <${Input} label="authz.cache_max_size" name="cache_max_size" type="number" value=${String(form.cache.max_size)} onValue=${(v: string) => cache({ max_size: Number(v) })} />
              <${Input} label="authz.cache_ttl" name="cache_ttl" value=${form.cache.ttl} onValue=${(v: string) => cache({ ttl: v })} />
              <${Input} label="authz.cache_excludes" name="cache_excludes" value=${form.cache.excludes.join(', ')} onValue=${(v: string) => cache({ excludes: v.split(',').map((x) => x.trim()).filter(Boolean) })} />
            </div>
          </fieldset>
          ${canWrite ? html`<div class="filter-actions">
            <button type="submit" class="primary">${t('authz.save_settings')}</button>
            <button type="button" onClick=${clear}>${t('authz.clear')}</button>
          </div>` : null}
        </form>` : null}</${Loadable}>
    </${Section}>`
}
