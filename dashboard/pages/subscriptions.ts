// Subscriptions of every session, searchable by client id and topic.
import { html } from 'htm/preact'
import type { Paged } from '../api'
import { t } from '../i18n'
import { href } from '../router'
import { text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input } from '../components/field'
import { PageHeader } from '../components/page'
import { FilterForm, useFilters } from '../components/filters'

interface Subscription { clientid: string, topic: string, qos: number, nl?: number, rap?: number, rh?: number, node?: string }

const EMPTY = { clientid: '', topic: '' }

export function Subscriptions () {
  const filters = useFilters(EMPTY)
  const subs = useApi<Paged<Subscription>>('/subscriptions', { ...filters.applied, page: filters.page, limit: 50 }, 5000)
  return html`
    <${PageHeader} title=${t('nav.subscriptions')} />
    <${FilterForm} label=${t('subs.search')} filters=${filters}>
      <${Input} label="clients.clientid" ...${filters.field('clientid')} />
      <${Input} label="subs.topic" ...${filters.field('topic')} />
    </${FilterForm}>
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
      <${Pager} page=${filters.page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${filters.setPage} />`}</${Loadable}>`
}
