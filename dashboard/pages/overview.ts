// Overview: the node, the live figures, charts of the last 15 minutes (/monitor), listeners, certificate expiry
// and TLS handshake failures.
import { html } from 'htm/preact'
import { useMemo } from 'preact/hooks'
import { t, type Key } from '../i18n'
import { date, duration, num, text } from '../format'
import { useApi, type ApiState } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { LineChart } from '../components/chart'
import { PageHeader, Section } from '../components/page'

const POLL_MS = 3000

interface NodeRecord { node: string, node_status: string, version: string | null, uptime: number | null, connections: number | null }
interface Sample { time_stamp: number, [figure: string]: number }
interface ListenerRecord { id: string, type: string, bind: string, running: boolean, current_connections: number, max_connections: number | string, tls?: { handshakes: number, handshake_failures: Record<string, number> } | null }
type Figures = Record<string, number>

/** Each figure: its label, where its current value is (/stats or /metrics), and its /monitor field when charted. */
interface Figure { label: Key, source: 'stats' | 'metrics', name: string, monitor?: string, color?: string }

const FIGURES: Figure[] = [
  { label: 'overview.connections', source: 'stats', name: 'connections.count', monitor: 'connections', color: '#2f6fdb' },
  { label: 'overview.subscriptions', source: 'stats', name: 'subscriptions.count', monitor: 'subscriptions', color: '#7a4cc2' },
  { label: 'overview.topics', source: 'stats', name: 'topics.count' },
  { label: 'overview.retained', source: 'stats', name: 'retained.count', monitor: 'retained_msg_count', color: '#0b7a75' },
  { label: 'overview.received', source: 'metrics', name: 'messages.received', monitor: 'received', color: '#1f7a1f' },
  { label: 'overview.sent', source: 'metrics', name: 'messages.sent', monitor: 'sent', color: '#a35a00' },
  { label: 'overview.dropped', source: 'metrics', name: 'messages.dropped', monitor: 'dropped', color: '#b42318' },
]

export function Overview () {
  const nodes = useApi<NodeRecord[]>('/nodes', undefined, POLL_MS)
  const stats = useApi<Figures>('/stats', { aggregate: true }, POLL_MS)
  const metrics = useApi<Figures>('/metrics', { aggregate: true }, POLL_MS)
  const monitor = useApi<Sample[]>('/monitor', { latest: 900 }, POLL_MS * 2)
  const listeners = useApi<ListenerRecord[]>('/listeners', undefined, POLL_MS)
  const expiring = useApi<{ data: Expiring[] }>('/certs/expiring', { days: 30 }, 60_000)
  return html`
    <${PageHeader} title=${t('nav.overview')} />
    <${Section} title=${t('overview.nodes')}><${Nodes} state=${nodes} /></${Section}>
    <${Section} title=${t('overview.now')}><${Cards} stats=${stats} metrics=${metrics} /></${Section}>
    <${Section} title=${t('overview.charts')}><${Charts} state=${monitor} /></${Section}>
    <div class="grid2">
      <${Section} title=${t('overview.listeners')}><${Listeners} state=${listeners} /></${Section}>
      <${Section} title=${t('overview.tls_failures')}><${TlsFailures} metrics=${metrics} listeners=${listeners} /></${Section}>
    </div>
    <${Section} title=${t('overview.expiring')}><${ExpiringCerts} state=${expiring} /></${Section}>`
}

function Nodes ({ state }: { state: ApiState<NodeRecord[]> }) {
  return html`<${Loadable} state=${state}>${(rows: NodeRecord[]) => html`<${DataTable} caption=${t('overview.nodes')} rows=${rows} rowKey=${(n: NodeRecord) => n.node} columns=${[
    { label: 'overview.node', value: (n: NodeRecord) => n.node },
    { label: 'overview.status', value: (n: NodeRecord) => html`<span class=${`badge ${n.node_status === 'running' ? 'ok' : 'bad'}`}>${n.node_status === 'running' ? t('state.running') : t('state.stopped')}</span>` },
    { label: 'overview.version', value: (n: NodeRecord) => text(n.version) },
    { label: 'overview.uptime', value: (n: NodeRecord) => duration(n.uptime) },
    { label: 'overview.connections', value: (n: NodeRecord) => num(n.connections), numeric: true },
  ]} />`}</${Loadable}>`
}

function Cards ({ stats, metrics }: { stats: ApiState<Figures>, metrics: ApiState<Figures> }) {
  const sources = { stats, metrics }
  return html`<ul class="cards">${FIGURES.map((f) => html`
    <li class="figure" data-figure=${f.name}><span class="figure-label">${t(f.label)}</span><span class="figure-value">${num(sources[f.source].data?.[f.name])}</span></li>`)}</ul>`
}

function Charts ({ state }: { state: ApiState<Sample[]> }) {
  const series = useMemo(() => {
    const samples = [...(state.data ?? [])].sort((a, b) => a.time_stamp - b.time_stamp)
    return { times: samples.map((s) => s.time_stamp), values: (figure: string) => samples.map((s) => Number(s[figure] ?? 0)) }
  }, [state.data])
  return html`<${Loadable} state=${state}>${() => html`<div class="charts">${FIGURES.filter((f) => f.monitor).map((f) =>
    html`<${LineChart} key=${f.monitor} label=${t(f.label)} times=${series.times} values=${series.values(f.monitor!)} color=${f.color} />`)}</div>`}</${Loadable}>`
}

function Listeners ({ state }: { state: ApiState<ListenerRecord[]> }) {
  return html`<${Loadable} state=${state} isEmpty=${(l: ListenerRecord[]) => l.length === 0}>${(rows: ListenerRecord[]) => html`<${DataTable} caption=${t('overview.listeners')} rows=${rows} rowKey=${(l: ListenerRecord) => l.id} columns=${[
    { label: 'listeners.id', value: (l: ListenerRecord) => l.id },
    { label: 'listeners.bind', value: (l: ListenerRecord) => l.bind },
    { label: 'overview.status', value: (l: ListenerRecord) => html`<span class=${`badge ${l.running ? 'ok' : 'bad'}`}>${l.running ? t('state.running') : t('state.stopped')}</span>` },
    { label: 'overview.connections', value: (l: ListenerRecord) => `${num(l.current_connections)} / ${typeof l.max_connections === 'number' ? num(l.max_connections) : '∞'}`, numeric: true },
  ]} />`}</${Loadable}>`
}

interface Failure { listener: string, reason: string, n: number }

/** Failed TLS handshakes by listener and reason (the listeners' records), under the totals of /metrics. */
function TlsFailures ({ metrics, listeners }: { metrics: ApiState<Figures>, listeners: ApiState<ListenerRecord[]> }) {
  const m = metrics.data
  return html`
    ${m ? html`<p>${t('overview.handshakes', { ok: num(m['tls.handshakes']), failed: num(m['tls.handshake_failures']) })}</p>` : null}
    <${Loadable} state=${listeners}>${(ls: ListenerRecord[]) => {
      const rows: Failure[] = ls.flatMap((l) => Object.entries(l.tls?.handshake_failures ?? {}).map(([reason, n]) => ({ listener: l.id, reason, n })))
      return html`<${DataTable} caption=${t('overview.tls_failures')} rows=${rows} rowKey=${(r: Failure) => `${r.listener} ${r.reason}`} columns=${[
        { label: 'listeners.id', value: (r: Failure) => r.listener },
        { label: 'overview.reason', value: (r: Failure) => r.reason },
        { label: 'overview.count', value: (r: Failure) => num(r.n), numeric: true },
      ]} />`
    }}</${Loadable}>`
}

interface CertFacts { subject: string, not_after: string, days_left: number, expired: boolean }
interface Expiring { kind: 'bundle' | 'certfile', source: string, leaf: CertFacts, ends_first: CertFacts, used_by: { listener: string, sni: string | null }[] }

function ExpiringCerts ({ state }: { state: ApiState<{ data: Expiring[] }> }) {
  return html`<${Loadable} state=${state}>${({ data }: { data: Expiring[] }) => {
    if (data.length === 0) return html`<p class="note ok">${t('overview.none_expiring')}</p>`
    return html`<ul class="expiring">${data.map((r) => {
      const c = r.ends_first
      const users = r.used_by.map((u) => u.sni ? `${u.listener} (SNI ${u.sni})` : u.listener).join(', ')
      return html`
      <li key=${r.source} class=${c.expired ? 'expired' : 'soon'}>
        <strong>${c.expired ? t('overview.expired') : t('overview.expires_soon')}</strong>
        ${' '}${r.source} — ${c.subject} — ${date(c.not_after)} (${t('overview.days_left', { days: c.days_left })})
        ${users ? html`<br /><small>${t('overview.used_by', { listeners: users })}</small>` : null}
      </li>`
    })}</ul>`
  }}</${Loadable}>`
}
