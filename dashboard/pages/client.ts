// One client: connection, TLS and client certificate, authentication, session figures and subscriptions;
// kick and ban, each confirmed.
import { html } from 'htm/preact'
import { api, seg } from '../api'
import { t } from '../i18n'
import { href, navigate } from '../router'
import { session, useCanWrite } from '../session'
import { date, num, text } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { Facts } from '../components/field'
import { PageHeader, Section } from '../components/page'
import { confirmed } from '../components/action'
import { protocol, type ClientRecord } from './clients'

interface Subscription { topic: string, qos: number, nl?: number, rap?: number, rh?: number }

const yesNo = (v: unknown) => v === true ? t('value.yes') : v === false ? t('value.no') : '—'

export function ClientDetails ({ clientid }: { clientid: string }) {
  const client = useApi<ClientRecord>(`/clients/${seg(clientid)}`, undefined, 5000)
  const subs = useApi<Subscription[]>(`/clients/${seg(clientid)}/subscriptions`, undefined, 5000)
  const canWrite = useCanWrite()
  const kick = () => confirmed({
    title: t('client.kick_title'), message: t('client.kick_message', { clientid }), confirm: t('client.kick'), done: t('client.kicked', { clientid }),
  }, () => api(`/clients/${seg(clientid)}`, { method: 'DELETE' })).then((ok) => { if (ok) navigate('clients') })
  const ban = () => confirmed({
    title: t('client.ban_title'), message: t('client.ban_message', { clientid }), confirm: t('client.ban'), done: t('client.banned', { clientid }),
  }, () => api('/banned', { method: 'POST', body: { as: 'clientid', who: clientid, by: session.get()?.username ?? 'dashboard', reason: t('client.ban_reason') } })).then((ok) => { if (ok) navigate('banned') })
  return html`
    <p><a href=${href('clients')}>← ${t('nav.clients')}</a></p>
    <${PageHeader} title=${t('client.title', { clientid })}>
      ${canWrite ? html`
        <button type="button" class="danger" onClick=${kick}>${t('client.kick')}</button>
        <button type="button" class="danger" onClick=${ban}>${t('client.ban')}</button>` : null}
    </${PageHeader}>
    <${Loadable} state=${client}>${(c: ClientRecord) => html`
      <div class="grid2">
        <${Section} title=${t('client.connection')}><${Facts} rows=${[
          ['clients.clientid', c.clientid], ['clients.username', text(c.username)], ['clients.state', c.connected ? t('clients.connected') : t('clients.disconnected')],
          ['client.node', text(c.node)], ['clients.ip', c.ip_address ? `${c.ip_address}:${c.port ?? ''}` : '—'], ['clients.listener', text(c.listener)],
          ['clients.protocol', protocol(c.proto_ver)], ['client.keepalive', num(c.keepalive as number)], ['client.clean_start', yesNo(c.clean_start)],
          ['clients.connected_at', date(c.connected_at)], ['client.expiry_interval', num(c.expiry_interval as number)],
        ]} /></${Section}>
        <${Section} title=${t('client.tls')}><${Facts} rows=${[
          ['client.tls_version', text(c.tls_version)], ['client.tls_cipher', text(c.tls_cipher)], ['client.sni', text(c.sni)],
          ['client.cert_subject', text(c.cert_subject)], ['client.cert_cn', text(c.cert_common_name)], ['client.cert_issuer', text(c.cert_issuer)],
          ['client.cert_serial', text(c.cert_serial)], ['client.cert_not_after', date(c.cert_not_after as string | undefined)],
        ]} /></${Section}>
        <${Section} title=${t('client.auth')}><${Facts} rows=${[
          ['client.authenticator', text(c.authenticator)], ['client.token_expiry', date(c.expire_at as string | null)]
        ]} /></${Section}>
        <${Section} title=${t('client.session')}><${Facts} rows=${[
          ['clients.subscriptions', num(c.subscriptions_cnt)], ['client.inflight', num(c.inflight_cnt as number)], ['client.awaiting_rel', num(c.awaiting_rel_cnt as number)],
          ['client.mqueue', num(c.mqueue_len as number)], ['client.mqueue_dropped', num(c.mqueue_dropped as number)], ['client.heap', num(c.heap_size as number)],
        ]} /></${Section}>
      </div>`}</${Loadable}>
    <${Section} title=${t('nav.subscriptions')}>
      <${Loadable} state=${subs}>${(rows: Subscription[]) => html`<${DataTable} caption=${t('nav.subscriptions')} rows=${rows} rowKey=${(s: Subscription) => s.topic} columns=${[
        { label: 'subs.topic', value: (s: Subscription) => s.topic },
        { label: 'subs.qos', value: (s: Subscription) => s.qos, numeric: true },
        { label: 'subs.nl', value: (s: Subscription) => text(s.nl), numeric: true },
        { label: 'subs.rap', value: (s: Subscription) => text(s.rap), numeric: true },
        { label: 'subs.rh', value: (s: Subscription) => text(s.rh), numeric: true },
      ]} />`}</${Loadable}>
    </${Section}>`
}
