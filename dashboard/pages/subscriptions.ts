// Subscriptions of every session, searchable by client id and topic.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import type { Paged } from '../api'
import { t } from '../i18n'
import { href } from '../router'
import { text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input } from '../components/field'
import { PageHeader } from '../components/page'

interface Subscription { clientid: string, topic: string, qos: number, nl?: number, rap?: number, rh?: number, node?: string }

const EMPTY = { clientid: '', topic: '' }

export function Subscriptions () {
  const [draft, setDraft] = useState(EMPTY)
  const [filters, setFilters] = useState(EMPTY)
  const [page, setPage] = useState(1)
  const subs = useApi<Paged<Subscription>>('/subscriptions', { ...filters, page, limit: 50 }, 5000)
  return html`
    <${PageHeader} title=${t('nav.subscriptions')} />
    <form class="filters card" role="search" aria-label=${t('subs.search')} onSubmit=${(e: Event) => { e.preventDefault(); setPage(1); setFilters(draft) }}>
      <${Input} label="clients.clientid" name="clientid" value=${draft.clientid} onValue=${(v: string) => setDraft({ ...draft, clientid: v })} />
      <${Input} label="subs.topic" name="topic" value=${draft.topic} onValue=${(v: string) => setDraft({ ...draft, topic: v })} />
      <div class="filter-actions">
        <button type="submit" class="primary">${t('action.search')}</button>
        <button type="button" onClick=${() => { setDraft(EMPTY); setFilters(EMPTY); setPage(1) }}>${t('action.reset')}</button>
      </div>
    </form>
    <${Loadable} state=${subs}>${(paged: Paged<Subscription>) => html`
      <${DataTable} caption=${t('nav.subscriptions')} rows=${paged.data} rowKey=${(s: Subscription) => `${s.clientid}\n${s.topic}`} columns=${[
        { label: 'clients.clientid', value: (s: Subscription) => html`<a href=${href('clients', s.clientid)}>${s.clientid}</a>` },
        { label: 'subs.topic', value: (s: Subscription) => s.topic },
        { label: 'subs.qos', value: (s: Subscription) => s.qos, numeric: true },
        { label: 'subs.nl', value: (s: Subscription) => text(s.nl), numeric: true },
        { label: 'subs.rap', value: (s: Subscription) => text(s.rap), numeric: true },
        { label: 'subs.rh', value: (s: Subscription) => text(s.rh), numeric: true },
        { label: 'client.node', value: (s: Subscription) => text(s.node) },
      ]} />
      <${Pager} page=${page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${setPage} />`}</${Loadable}>`
}
