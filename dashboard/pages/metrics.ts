// Metrics: every figure of /stats, /metrics and the Prometheus exposition, filtered by a search box.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { apiText } from '../api'
import { t } from '../i18n'
import { num } from '../format'
import { useApi } from '../components/use-api'
import { ErrorNote, Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { Input } from '../components/field'
import { PageHeader, Section } from '../components/page'

interface Row { name: string, value: number }

const rowsOf = (figures: Record<string, unknown>): Row[] =>
  Object.entries(figures).filter(([, v]) => typeof v === 'number').map(([name, value]) => ({ name, value: value as number })).sort((a, b) => a.name.localeCompare(b.name))

/** `name{labels} value` lines of the Prometheus text format (comments skipped). */
function parsePrometheus (body: string): Row[] {
  const rows: Row[] = []
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    const value = Number(line.slice(at + 1))
    if (at > 0 && Number.isFinite(value)) rows.push({ name: line.slice(0, at), value })
  }
  return rows
}

export function Metrics () {
  const [query, setQuery] = useState('')
  const stats = useApi<Record<string, unknown>>('/stats', { aggregate: true }, 5000)
  const metrics = useApi<Record<string, unknown>>('/metrics', { aggregate: true }, 5000)
  const prometheus = usePrometheus()
  const match = (r: Row) => r.name.toLowerCase().includes(query.trim().toLowerCase())
  const table = (caption: string, rows: Row[]) => html`<${DataTable} caption=${caption} rows=${rows.filter(match)} rowKey=${(r: Row) => r.name} columns=${[
    { label: 'metrics.name', value: (r: Row) => html`<code>${r.name}</code>` },
    { label: 'metrics.value', value: (r: Row) => num(r.value), numeric: true },
  ]} />`
  return html`
    <${PageHeader} title=${t('nav.metrics')} />
    <div class="filters card" role="search"><${Input} label="metrics.search" name="search" type="search" value=${query} onValue=${setQuery} /></div>
    <div class="grid2">
      <${Section} title=${t('metrics.stats')}><${Loadable} state=${stats}>${(s: Record<string, unknown>) => table(t('metrics.stats'), rowsOf(s))}</${Loadable}></${Section}>
      <${Section} title=${t('metrics.metrics')}><${Loadable} state=${metrics}>${(m: Record<string, unknown>) => table(t('metrics.metrics'), rowsOf(m))}</${Loadable}></${Section}>
    </div>
    <${Section} title=${t('metrics.prometheus')}>
      ${prometheus.error ? html`<${ErrorNote} error=${prometheus.error} />` : prometheus.rows ? table(t('metrics.prometheus'), prometheus.rows) : html`<p class="note" role="status">${t('state.loading')}</p>`}
    </${Section}>`
}

function usePrometheus (): { rows?: Row[], error?: Error } {
  const [state, setState] = useState<{ rows?: Row[], error?: Error }>({})
  useEffect(() => {
    let live = true
    const load = () => apiText('/prometheus/stats').then((body) => { if (live) setState({ rows: parsePrometheus(body) }) }, (error: Error) => { if (live) setState((s) => ({ ...s, error })) })
    void load()
    const timer = setInterval(load, 10_000)
    return () => { live = false; clearInterval(timer) }
  }, [])
  return state
}
