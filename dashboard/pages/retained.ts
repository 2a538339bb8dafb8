// Retained messages: list, search by topic or filter (the server matches it), view one (payload as text, or hex when it is not UTF-8), delete.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, seg, type Paged } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { date, text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Facts, Input } from '../components/field'
import { PageHeader, Section } from '../components/page'
import { FilterForm, useFilters } from '../components/filters'
import { confirmed } from '../components/action'

interface Retained { topic: string, qos: number, publish_at?: string, from_clientid?: string, from_username?: string, payload?: string }

function payloadText (base64: string | undefined): string {
  if (base64 === undefined) return '—'
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')
  }
}

export function RetainedMessages () {
  const filters = useFilters({ topic: '' })
  const [open, setOpen] = useState<string | null>(null)
  const canWrite = useCanWrite()
  const list = useApi<Paged<Retained>>('/mqtt/retainer/messages', { ...filters.applied, page: filters.page, limit: 50 }, 5000)
  const remove = (r: Retained) => confirmed({
    title: t('retained.delete_title'), message: t('retained.delete_message', { topic: r.topic }), confirm: t('action.delete'), done: t('retained.deleted', { topic: r.topic }),
  }, () => api(`/mqtt/retainer/message/${seg(r.topic)}`, { method: 'DELETE' })).then((ok) => { if (ok) { if (open === r.topic) setOpen(null); list.reload() } })
  return html`
    <${PageHeader} title=${t('nav.retained')} />
    <${FilterForm} label=${t('retained.search')} filters=${filters}>
      <${Input} label="retained.filter" ...${filters.field('topic')} />
    </${FilterForm}>
    ${open !== null ? html`<${RetainedView} topic=${open} onClose=${() => setOpen(null)} />` : null}
    <${Loadable} state=${list}>${(paged: Paged<Retained>) => {
      return html`
        <${DataTable} caption=${t('nav.retained')} rows=${paged.data} rowKey=${(r: Retained) => r.topic} columns=${[
          { label: 'subs.topic', value: (r: Retained) => r.topic },
          { label: 'subs.qos', value: (r: Retained) => r.qos, numeric: true },
          { label: 'retained.from', value: (r: Retained) => text(r.from_clientid) },
          { label: 'retained.at', value: (r: Retained) => date(r.publish_at) },
          { label: 'retained.actions', value: (r: Retained) => html`
            <button type="button" class="link" onClick=${() => setOpen(r.topic)} aria-label=${t('retained.view_topic', { topic: r.topic })}>${t('action.view')}</button>
            ${canWrite ? html` <button type="button" class="link danger" onClick=${() => remove(r)} aria-label=${t('retained.delete_topic', { topic: r.topic })}>${t('action.delete')}</button>` : null}` },
        ]} />
        <${Pager} page=${filters.page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${filters.setPage} />`
    }}</${Loadable}>`
}

function RetainedView ({ topic, onClose }: { topic: string, onClose: () => void }) {
  const message = useApi<Retained>(`/mqtt/retainer/message/${seg(topic)}`)
  return html`
    <${Section} title=${t('retained.message', { topic })}>
      <${Loadable} state=${message}>${(m: Retained) => html`
        <${Facts} rows=${[['subs.topic', m.topic], ['subs.qos', m.qos], ['retained.from', text(m.from_clientid)], ['clients.username', text(m.from_username)], ['retained.at', date(m.publish_at)]]} />
        <h3>${t('retained.payload')}</h3>
        <pre class="payload">${payloadText(m.payload)}</pre>`}</${Loadable}>
      <button type="button" onClick=${onClose}>${t('action.close')}</button>
    </${Section}>`
}
