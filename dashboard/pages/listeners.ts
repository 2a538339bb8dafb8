// Listeners: each MQTT listener with its type, address, state and clients; start, stop (confirmed: its clients are
// disconnected) and restart; for ssl and wss, the TLS settings in force, the certificates served (certfile or
// managed bundles with their SNI names) and the failed handshakes by reason.
import { html } from 'htm/preact'
import { api, seg } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { date, num } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { Facts } from '../components/field'
import { PageHeader, Section } from '../components/page'
import { attempt, confirmed } from '../components/action'

interface CertFacts { subject: string, issuer: string, sans: string[], not_after: string, days_left: number, expired: boolean }
interface Served { kind: 'certfile' | 'bundle', source: string, sni: string | null, leaf: CertFacts, ends_first: CertFacts }
interface Tls {
  verify: string, fail_if_no_peer_cert: boolean, versions: string[], ciphers: string[], honor_cipher_order: boolean, depth: number,
  device_registry: boolean, certificates: Served[], handshakes: number, handshake_failures: Record<string, number>
}
export interface ListenerRecord { id: string, type: string, bind: string, running: boolean, current_connections: number, max_connections: number | string, tls: Tls | null }

const DONE = { start: 'listeners.started', stop: 'listeners.stopped', restart: 'listeners.restarted' } as const

const yes = (b: boolean) => (b ? t('value.yes') : t('value.no'))

export function Listeners () {
  const canWrite = useCanWrite()
  const list = useApi<ListenerRecord[]>('/listeners', undefined, 3000)
  const act = (l: ListenerRecord, action: 'start' | 'stop' | 'restart') => {
    const run = () => api(`/listeners/${seg(l.id)}/${action}`, { method: 'POST' })
    const done = t(DONE[action], { id: l.id })
    const outcome = action === 'start'
      ? attempt(done, run)
      : confirmed({ title: t(`listeners.${action}_title`, { id: l.id }), message: t('listeners.stop_message', { id: l.id, count: l.current_connections }), confirm: t(`listeners.${action}`), done }, run)
    void outcome.then(() => list.reload())
  }
  return html`
    <${PageHeader} title=${t('nav.listeners')} />
    <${Loadable} state=${list}>${(rows: ListenerRecord[]) => html`
      <${Section} title=${t('nav.listeners')}>
        <${DataTable} caption=${t('nav.listeners')} rows=${rows} rowKey=${(l: ListenerRecord) => l.id} columns=${[
          { label: 'listeners.id', value: (l: ListenerRecord) => l.id },
          { label: 'listeners.type', value: (l: ListenerRecord) => l.type },
          { label: 'listeners.bind', value: (l: ListenerRecord) => l.bind },
          { label: 'overview.status', value: (l: ListenerRecord) => html`<span class=${`badge ${l.running ? 'ok' : 'bad'}`}>${l.running ? t('state.running') : t('state.stopped')}</span>` },
          { label: 'overview.connections', value: (l: ListenerRecord) => `${num(l.current_connections)} / ${typeof l.max_connections === 'number' ? num(l.max_connections) : '∞'}`, numeric: true },
          ...(canWrite ? [{ label: 'retained.actions' as const, value: (l: ListenerRecord) => html`
            ${l.running
              ? html`<button type="button" class="link danger" onClick=${() => act(l, 'stop')} aria-label=${t('listeners.stop_id', { id: l.id })}>${t('listeners.stop')}</button>
                <button type="button" class="link" onClick=${() => act(l, 'restart')} aria-label=${t('listeners.restart_id', { id: l.id })}>${t('listeners.restart')}</button>`
              : html`<button type="button" class="link" onClick=${() => act(l, 'start')} aria-label=${t('listeners.start_id', { id: l.id })}>${t('listeners.start')}</button>`}` }] : []),
        ]} />
      </${Section}>
      ${rows.filter((l) => l.tls).map((l) => html`<${TlsDetails} key=${l.id} listener=${l} tls=${l.tls!} />`)}`}</${Loadable}>`
}

function TlsDetails ({ listener, tls }: { listener: ListenerRecord, tls: Tls }) {
  const failures = Object.entries(tls.handshake_failures).map(([reason, n]) => ({ reason, n }))
  return html`
    <${Section} title=${t('listeners.tls_of', { id: listener.id })}>
      <${Facts} rows=${[
        ['listeners.verify', tls.verify],
        ['listeners.fail_if_no_peer_cert', yes(tls.fail_if_no_peer_cert)],
        ['listeners.versions', tls.versions.join(', ')],
        ['listeners.ciphers', tls.ciphers.length ? tls.ciphers.join(', ') : t('listeners.default_ciphers')],
        ['listeners.honor_cipher_order', yes(tls.honor_cipher_order)],
        ['listeners.depth', tls.depth],
        ['listeners.device_registry', yes(tls.device_registry)],
        ['listeners.handshakes', num(tls.handshakes)],
      ]} />
      <h3>${t('listeners.served')}</h3>
      <${DataTable} caption=${t('listeners.served_of', { id: listener.id })} rows=${tls.certificates} rowKey=${(c: Served) => `${c.source} ${c.sni ?? ''}`} columns=${[
        { label: 'listeners.source', value: (c: Served) => c.kind === 'bundle' ? t('listeners.bundle', { source: c.source }) : c.source },
        { label: 'listeners.sni', value: (c: Served) => c.sni === null ? '—' : c.sni === '' ? t('listeners.sni_default') : c.sni },
        { label: 'certs.subject', value: (c: Served) => c.leaf.subject },
        { label: 'certs.sans', value: (c: Served) => c.leaf.sans.join(', ') },
        { label: 'certs.issuer', value: (c: Served) => c.leaf.issuer },
        { label: 'certs.not_after', value: (c: Served) => html`${date(c.ends_first.not_after)} <${DaysLeft} cert=${c.ends_first} />` },
      ]} />
      <h3>${t('overview.tls_failures')}</h3>
      <${DataTable} caption=${t('listeners.failures_of', { id: listener.id })} rows=${failures} rowKey=${(f: { reason: string }) => f.reason} columns=${[
        { label: 'overview.reason', value: (f: { reason: string }) => f.reason },
        { label: 'overview.count', value: (f: { n: number }) => num(f.n), numeric: true },
      ]} />
    </${Section}>`
}

export function DaysLeft ({ cert }: { cert: { days_left: number, expired: boolean } }) {
  if (cert.expired) return html`<span class="badge bad">${t('overview.expired')}</span>`
  return html`<span class=${`badge ${cert.days_left <= 30 ? 'bad' : 'ok'}`}>${t('overview.days_left', { days: cert.days_left })}</span>`
}

