// Clients: search and filter the connected clients and kept sessions; the details view is pages/client.ts.
import { html } from 'htm/preact'
import type { Paged } from '../api'
import { t } from '../i18n'
import { href } from '../router'
import { date, num, text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input, Select } from '../components/field'
import { PageHeader } from '../components/page'
import { FilterForm, useFilters } from '../components/filters'
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
  const filters = useFilters(EMPTY)
  const listeners = useApi<{ id: string }[]>('/listeners')
  const clients = useApi<Paged<ClientRecord>>('/clients', { ...filters.applied, page: filters.page, limit: 50 }, 5000)
  const any = { value: '', label: t('filter.any') }
  return html`
    <${PageHeader} title=${t('nav.clients')} />
    <${FilterForm} label=${t('clients.search')} filters=${filters}>
      <${Input} label="clients.clientid" ...${filters.field('like_clientid')} />
      <${Input} label="clients.username" ...${filters.field('like_username')} />
      <${Input} label="clients.ip" ...${filters.field('ip_address')} />
      <${Select} label="clients.listener" ...${filters.field('listener')} options=${[any, ...(listeners.data ?? []).map((l) => ({ value: l.id, label: l.id }))]} />
      <${Select} label="clients.protocol" ...${filters.field('proto_ver')} options=${[any, { value: '3', label: 'MQTT 3.1' }, { value: '4', label: 'MQTT 3.1.1' }, { value: '5', label: 'MQTT 5.0' }]} />
      <${Select} label="clients.state" ...${filters.field('conn_state')} options=${[any, { value: 'connected', label: t('clients.connected') }, { value: 'disconnected', label: t('clients.disconnected') }]} />
    </${FilterForm}>
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
      <${Pager} page=${filters.page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${filters.setPage} />`}</${Loadable}>`
}

export const protocol = (v: number | null | undefined) => v === 5 ? 'MQTT 5.0' : v === 4 ? 'MQTT 3.1.1' : v === 3 ? 'MQTT 3.1' : '—'
