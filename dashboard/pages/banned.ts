// Banned: the bans in force, a form to add one, and delete (confirmed).
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, seg, type Paged } from '../api'
import { t } from '../i18n'
import { session, useCanWrite } from '../session'
import { date, text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input, Select } from '../components/field'
import { PageHeader, Section } from '../components/page'
import { attempt, confirmed } from '../components/action'

interface Ban { as: string, who: string, by?: string, reason?: string, at?: string, until?: string }

const KINDS = ['clientid', 'username', 'peerhost', 'clientid_re', 'username_re', 'peerhost_net']
const NEW = { as: 'clientid', who: '', reason: '', until: '' }

export function Banned () {
  const [page, setPage] = useState(1)
  const [form, setForm] = useState(NEW)
  const canWrite = useCanWrite()
  const bans = useApi<Paged<Ban>>('/banned', { page, limit: 50 }, 10_000)
  const add = async (e: Event) => {
    e.preventDefault()
    const body = { as: form.as, who: form.who, by: session.get()?.username ?? 'dashboard', reason: form.reason, ...(form.until ? { until: new Date(form.until).toISOString() } : {}) }
    if (await attempt(t('banned.added', { who: form.who }), () => api('/banned', { method: 'POST', body }))) { setForm(NEW); bans.reload() }
  }
  const remove = (b: Ban) => confirmed({
    title: t('banned.delete_title'), message: t('banned.delete_message', { who: b.who }), confirm: t('action.delete'), done: t('banned.deleted', { who: b.who }),
  }, () => api(`/banned/${seg(b.as)}/${seg(b.who)}`, { method: 'DELETE' })).then((ok) => { if (ok) bans.reload() })
  return html`
    <${PageHeader} title=${t('nav.banned')} />
    ${canWrite ? html`
      <${Section} title=${t('banned.add')}>
        <form class="filters" onSubmit=${add}>
          <${Select} label="banned.as" name="as" value=${form.as} onValue=${(v: string) => setForm({ ...form, as: v })} options=${KINDS.map((k) => ({ value: k, label: k }))} />
          <${Input} label="banned.who" name="who" value=${form.who} onValue=${(v: string) => setForm({ ...form, who: v })} required />
          <${Input} label="banned.reason" name="reason" value=${form.reason} onValue=${(v: string) => setForm({ ...form, reason: v })} />
          <${Input} label="banned.until" name="until" type="datetime-local" value=${form.until} onValue=${(v: string) => setForm({ ...form, until: v })} />
          <div class="filter-actions"><button type="submit" class="primary">${t('banned.add')}</button></div>
        </form>
      </${Section}>` : null}
    <${Loadable} state=${bans}>${(paged: Paged<Ban>) => html`
      <${DataTable} caption=${t('nav.banned')} rows=${paged.data} rowKey=${(b: Ban) => `${b.as}\n${b.who}`} columns=${[
        { label: 'banned.as', value: (b: Ban) => b.as },
        { label: 'banned.who', value: (b: Ban) => b.who },
        { label: 'banned.reason', value: (b: Ban) => text(b.reason) },
        { label: 'banned.by', value: (b: Ban) => text(b.by) },
        { label: 'banned.at', value: (b: Ban) => date(b.at) },
        { label: 'banned.until', value: (b: Ban) => date(b.until) },
        ...(canWrite ? [{ label: 'retained.actions' as const, value: (b: Ban) => html`<button type="button" class="link danger" onClick=${() => remove(b)} aria-label=${t('banned.delete_who', { who: b.who })}>${t('action.delete')}</button>` }] : []),
      ]} />
      <${Pager} page=${page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${setPage} />`}</${Loadable}>`
}
