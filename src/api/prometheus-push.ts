// prometheus.push_gateway (EMQX 5.8), or EMQX 5.0's push_gateway_server / interval / headers / job_name /
// enable: every interval, the text GET /api/v5/prometheus/stats serves is sent to <url>/metrics/job/<job_name>
// with method put or post and the configured headers. The next push is timed from the end of the last one, as
// EMQX's, so pushes never overlap. A failed push is logged, at most one line a minute (with the count of
// failures since the last line), and a push that succeeds again says so; neither stops the broker.
import { request } from 'undici'
import type { CulexConfig } from '../config/schema.js'
import type { ApiHost } from './common.js'
import { prometheusText } from './prometheus.js'

export interface PushGatewayOptions {
  /** <url>/metrics/job/<job_name>, placeholders filled in. */
  readonly url: string
  readonly method: 'PUT' | 'POST'
  readonly interval: number
  readonly headers: Readonly<Record<string, string>>
}

const FAILURE_LOG_MS = 60_000
/** EMQX's httpc timeout for a push. */
const TIMEOUT_MS = 60_000
const PLACEHOLDER = /\$\{([^}]*)\}/g

/** What to push where, from either form of the prometheus section; null when pushing is off. */
export function pushGatewayOptions (config: Pick<CulexConfig, 'prometheus' | 'node' | 'cluster'>, warn: (message: string) => void = () => {}): PushGatewayOptions | null {
  const p = config.prometheus
  const legacy = p.push_gateway_server !== undefined || p.enable !== undefined || p.interval !== undefined || p.headers !== undefined || p.job_name !== undefined
  const gw = p.push_gateway
  const form = legacy
    ? { enable: p.enable ?? false, url: p.push_gateway_server ?? gw.url, interval: p.interval ?? gw.interval, headers: p.headers ?? {}, jobName: p.job_name ?? gw.job_name, method: 'put' as const }
    : { enable: gw.enable, url: gw.url, interval: gw.interval, headers: gw.headers, jobName: gw.job_name, method: gw.method }
  if (!form.enable || form.url === '') return null
  const at = config.node.name.indexOf('@')
  const values: Record<string, string> = {
    name: at < 0 ? config.node.name : config.node.name.slice(0, at),
    host: at < 0 ? '' : config.node.name.slice(at + 1),
    cluster_name: config.cluster.name,
  }
  const job = form.jobName.replace(PLACEHOLDER, (whole, name: string) => {
    const value = values[name]
    if (value !== undefined) return encodeURIComponent(value)
    warn(`prometheus job_name: unknown placeholder ${whole} left empty; known: \${name}, \${host}, \${cluster_name}`)
    return ''
  })
  return { url: `${form.url.replace(/\/+$/, '')}/metrics/job/${job}`, method: form.method === 'post' ? 'POST' : 'PUT', interval: form.interval, headers: form.headers }
}

export class PushGateway {
  readonly #options: PushGatewayOptions
  readonly #host: ApiHost
  readonly #text: ReturnType<typeof prometheusText>
  readonly #stop = new AbortController()
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  /** Failures since the last line about them; whether the last push failed; when the last failure line was written. */
  #failed = 0
  #failing = false
  #loggedAt = 0

  constructor (host: ApiHost, options: PushGatewayOptions) {
    this.#host = host
    this.#options = options
    this.#text = prometheusText(host)
  }

  start (): void {
    this.#host.log.info({ url: this.#options.url, method: this.#options.method, interval_ms: this.#options.interval }, 'prometheus: pushing metrics to the push gateway')
    this.#schedule()
  }

  async stop (): Promise<void> {
    this.#stop.abort()
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    await this.#running
  }

  #schedule (): void {
    if (this.#stop.signal.aborted) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#running = this.#push().finally(() => {
        this.#running = null
        this.#schedule()
      })
    }, this.#options.interval)
    this.#timer.unref()
  }

  async #push (): Promise<void> {
    const { url, method, headers } = this.#options
    try {
      const body = await this.#text.read()
      const res = await request(url, {
        method,
        headers: { 'content-type': this.#text.contentType, ...headers },
        body,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
        signal: this.#stop.signal,
      })
      const answer = (await res.body.text()).slice(0, 200)
      if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`HTTP ${res.statusCode}${answer ? `: ${answer.trim()}` : ''}`)
      if (this.#failing) {
        this.#host.log.notice({ url, failures: this.#failed }, 'prometheus: pushing to the push gateway works again (failures: those since the last line)')
        this.#failing = false
        this.#failed = 0
      }
    } catch (err) {
      if (this.#stop.signal.aborted) return
      this.#failed++
      const now = Date.now()
      if (!this.#failing || now - this.#loggedAt >= FAILURE_LOG_MS) {
        this.#host.log.warning({ url, method, failures: this.#failed, err: (err as Error).message }, 'prometheus: push to the push gateway failed (one line a minute at most while it fails; failures: since the last line)')
        this.#loggedAt = now
        this.#failed = 0
      }
      this.#failing = true
    }
  }
}
