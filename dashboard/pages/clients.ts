// Clients: search and filter the connected clients and kept sessions; the details view is pages/client.ts.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import type { Paged } from '../api'
import { t } from '../i18n'
import { href } from '../router'
import { date, num, text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input, Select } from '../components/field'
import { PageHeader } from '../components/page'
import { ClientDetails } from './client'

export interface ClientRecord {
  clientid: string
  username: string | null
  ip_address: string | null
  port: number | null
  listener: string | null
  proto_ver: number | null
  connected: boolean
  connected_at: string | null
  subscriptions_cnt: number
  [field: string]: unknown
}

const EMPTY = { like_clientid: '', like_username: '', ip_address: '', listener: '', proto_ver: '', conn_state: '' }

export function Clients ({ route }: { route: string[] }) {
  if (route[0] !== undefined) return html`<${ClientDetails} clientid=${route[0]} />`
  return html`<${ClientList} />`
}

function ClientList () {
  const [draft, setDraft] = useState(EMPTY)
  const [filters, setFilters] = useState(EMPTY)
  const [page, setPage] = useState(1)
  const listeners = useApi<{ id: string }[]>('/listeners')
  const clients = useApi<Paged<ClientRecord>>('/clients', { ...filters, page, limit: 50 }, 5000)
  const set = (key: keyof typeof EMPTY) => (value: string) => setDraft({ ...draft, [key]: value })
  const any = { value: '', label: t('filter.any') }
  return html`
    <${PageHeader} title=${t('nav.clients')} />
    <form class="filters card" role="search" aria-label=${t('clients.search')} onSubmit=${(e: Event) => { e.preventDefault(); setPage(1); setFilters(draft) }}>
      <${Input} label="clients.clientid" name="like_clientid" value=${draft.like_clientid} onValue=${set('like_clientid')} />
      <${Input} label="clients.username" name="like_username" value=${draft.like_username} onValue=${set('like_username')} />
      <${Input} label="clients.ip" name="ip_address" value=${draft.ip_address} onValue=${set('ip_address')} />
      <${Select} label="clients.listener" name="listener" value=${draft.listener} onValue=${set('listener')} options=${[any, ...(listeners.data ?? []).map((l) => ({ value: l.id, label: l.id }))]} />
      <${Select} label="clients.protocol" name="proto_ver" value=${draft.proto_ver} onValue=${set('proto_ver')} options=${[any, { value: '3', label: 'MQTT 3.1' }, { value: '4', label: 'MQTT 3.1.1' }, { value: '5', label: 'MQTT 5.0' }]} />
      <${Select} label="clients.state" name="conn_state" value=${draft.conn_state} onValue=${set('conn_state')} options=${[any, { value: 'connected', label: t('clients.connected') }, { value: 'disconnected', label: t('clients.disconnected') }]} />
      <div class="filter-actions">
        <button type="submit" class="primary">${t('action.search')}</button>
        <button type="button" onClick=${() => { setDraft(EMPTY); setFilters(EMPTY); setPage(1) }}>${t('action.reset')}</button>
      </div>
    </form>
    <${Loadable} state=${clients}>${(paged: Paged<ClientRecord>) => html`
      <${DataTable} caption=${t('nav.clients')} rows=${paged.data} rowKey=${(c: ClientRecord) => c.clientid} columns=${[
        { label: 'clients.clientid', value: (c: ClientRecord) => html`<a href=${href('clients', c.clientid)}>${c.clientid}</a>` },
        { label: 'clients.username', value: (c: ClientRecord) => text(c.username) },
        { label: 'clients.ip', value: (c: ClientRecord) => c.ip_address ? `${c.ip_address}:${c.port ?? ''}` : '—' },
        { label: 'clients.listener', value: (c: ClientRecord) => text(c.listener) },
        { label: 'clients.protocol', value: (c: ClientRecord) => protocol(c.proto_ver) },
        { label: 'clients.state', value: (c: ClientRecord) => html`<span class=${`badge ${c.connected ? 'ok' : 'off'}`}>${c.connected ? t('clients.connected') : t('clients.disconnected')}</span>` },
        { label: 'clients.connected_at', value: (c: ClientRecord) => date(c.connected_at) },
        { label: 'clients.subscriptions', value: (c: ClientRecord) => num(c.subscriptions_cnt), numeric: true },
      ]} />
      <${Pager} page=${page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${setPage} />`}</${Loadable}>`
}

export const protocol = (v: number | null | undefined) => v === 5 ? 'MQTT 5.0' : v === 4 ? 'MQTT 3.1.1' : v === 3 ? 'MQTT 3.1' : '—'
