// Admission of new sockets as they are accepted, before TLS or HTTP see them: access_rules and
// overload_protection's memory mark close them, max_conn_rate makes them wait their turn in a queue (EMQX pauses its
// acceptor, leaving them in the kernel's backlog; Node cannot pause accept, so the queue plays that part).
import type { Server, Socket } from 'node:net'
import { totalmem } from 'node:os'
import type { OverloadProtectionConfig } from '../config/schema.js'
import type { Rate } from '../config/types.js'
import { TokenBucket } from '../mqtt/rate-limit.js'
import type { ListenerCore } from './listener-core.js'
import type { AccessRules } from './access-rules.js'

// Refusals are logged at most this often per listener, with how many there were since.
const LOG_INTERVAL_MS = 10_000
// Resident memory is sampled at most this often (a read of /proc on Linux).
const MEM_SAMPLE_MS = 500

/**
 * The alarm raised while connections are refused for memory: the broker's own resident memory, so not
 * EMQX's high_system_memory_usage (the host's memory, sysmon.os; src/mqtt/os-monitor.ts).
 */
export const MEMORY_ALARM = 'high_broker_memory_usage'

let rssAt = 0
let rss = 0

function residentMemory (now: number): number {
  if (now - rssAt >= MEM_SAMPLE_MS) {
    rss = process.memoryUsage.rss()
    rssAt = now
  }
  return rss
}

/** The mark in bytes: a size, or a percentage of the cgroup's memory limit (else the host's memory). */
export function memoryMark (config: OverloadProtectionConfig): number {
  const mark = config.mem_high_watermark
  if ('bytes' in mark) return mark.bytes
  const constrained = process.constrainedMemory?.() ?? 0
  const total = totalmem()
  return Math.floor((constrained > 0 && constrained < total ? constrained : total) * mark.percent / 100)
}

interface Waiting { socket: Socket, due: number }

function destroyOnError (this: Socket): void {
  this.destroy()
}

export class AcceptGuard {
  readonly #core: ListenerCore
  readonly #id: string
  readonly #memMark: number
  readonly #bucket: TokenBucket | null
  readonly #queueMax: number
  readonly #access: AccessRules | null
  readonly #queue: Waiting[] = []
  #admit: (socket: Socket) => void = () => {}
  #timer: NodeJS.Timeout | null = null
  readonly #logged = { mem: { at: -Infinity, count: 0 }, rate: { at: -Infinity, count: 0 }, full: { at: -Infinity, count: 0 }, access: { at: -Infinity, count: 0 } }

  /** Returns null when no rule or limit is on, so that accepting costs nothing more. */
  static create (core: ListenerCore, listenerId: string, connRate: Rate | null, backlog: number, access: AccessRules | null = null): AcceptGuard | null {
    const overload = core.config.overload_protection
    if (connRate === null && !overload.enable && access === null) return null
    return new AcceptGuard(core, listenerId, connRate, backlog, overload.enable ? memoryMark(overload) : Infinity, access)
  }

  constructor (core: ListenerCore, listenerId: string, connRate: Rate | null, queueMax: number, memMark: number, access: AccessRules | null = null) {
    this.#core = core
    this.#id = listenerId
    this.#memMark = memMark
    this.#bucket = connRate ? new TokenBucket(connRate) : null
    this.#queueMax = queueMax
    this.#access = access
  }

  /** Puts the guard in front of the server's 'connection' listeners (the net, TLS-front or HTTP handler). */
  install (server: Server): void {
    const handlers = server.listeners('connection') as ((socket: Socket) => void)[]
    server.removeAllListeners('connection')
    this.#admit = (socket) => { for (const handler of handlers) handler.call(server, socket) }
    server.on('connection', (socket: Socket) => this.#accept(socket))
  }

  #accept (socket: Socket): void {
    const now = Date.now()
    const metrics = this.#core.metrics
    const refusedBy = this.#access?.refuses(socket.remoteAddress)
    if (refusedBy) {
      metrics.connectionsRefused++
      const peer = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`
      this.#core.log.info({ listener: this.#id, peer, rule: refusedBy.text }, `connection refused by access_rules: ${peer} matches "${refusedBy.text}"`)
      this.#log('notice', 'access', now, { peer, rule: refusedBy.text }, 'connections refused by access_rules')
      socket.destroy()
      return
    }
    if (residentMemory(now) > this.#memMark) {
      metrics.limits.memRefused++
      metrics.connectionsRefused++
      this.#log('warning', 'mem', now, { rss, mark: this.#memMark }, 'connections refused: memory above overload_protection.mem_high_watermark')
      this.#raiseMemoryAlarm()
      socket.destroy()
      return
    }
    if (this.#bucket === null) { this.#admit(socket); return }
    if (this.#queue.length >= this.#queueMax) {
      metrics.limits.connRateRefused++
      metrics.connectionsRefused++
      this.#log('warning', 'full', now, { waiting: this.#queue.length }, 'connections refused: max_conn_rate queue full (tcp_options.backlog)')
      socket.destroy()
      return
    }
    const wait = this.#bucket.take(1, now)
    if (wait === 0 && this.#queue.length === 0) { this.#admit(socket); return }
    metrics.limits.connRateDelayed++
    this.#log('notice', 'rate', now, { waiting: this.#queue.length + 1 }, 'new connections delayed: listener at max_conn_rate')
    socket.on('error', destroyOnError)
    this.#queue.push({ socket, due: now + wait })
    if (this.#timer === null) this.#schedule(now)
  }

  /**
   * The alarm high_broker_memory_usage while connections are refused for memory; cleared once the
   * sampled resident memory is back under the mark.
   */
  #raiseMemoryAlarm (): void {
    const alarms = this.#core.alarms
    const config = this.#core.config.overload_protection
    const mark = config.mem_high_watermark
    const watermark = 'bytes' in mark ? `${mark.bytes} bytes` : `${mark.percent}%`
    if (!alarms.activate(MEMORY_ALARM, { high_watermark: watermark, mark_bytes: this.#memMark, rss }, `Memory usage is higher than the overload protection mark mem_high_watermark (${watermark}): new connections refused`)) return
    const check = setInterval(() => {
      if (this.#core.closing || residentMemory(Date.now()) <= this.#memMark) {
        clearInterval(check)
        alarms.deactivate(MEMORY_ALARM, { high_watermark: watermark, mark_bytes: this.#memMark, rss })
      }
    }, MEM_SAMPLE_MS * 2).unref()
  }

  #schedule (now: number): void {
    this.#timer = setTimeout(() => this.#release(), Math.max(0, this.#queue[0]!.due - now))
  }

  /** Hands on every waiting socket whose turn has come; the queue is in due order, as tokens were taken. */
  #release (): void {
    this.#timer = null
    const now = Date.now()
    let n = 0
    while (n < this.#queue.length && this.#queue[n]!.due <= now) n++
    for (const { socket } of this.#queue.splice(0, n)) {
      socket.off('error', destroyOnError)
      if (!socket.destroyed && !this.#core.closing) this.#admit(socket)
    }
    if (this.#queue.length > 0) this.#schedule(now)
  }

  /** One line per kind and interval, with the count since the last one. */
  #log (level: 'warning' | 'notice', kind: 'mem' | 'rate' | 'full' | 'access', now: number, details: Record<string, unknown>, msg: string): void {
    const state = this.#logged[kind]
    state.count++
    if (now - state.at < LOG_INTERVAL_MS) return
    this.#core.log[level]({ listener: this.#id, ...details, since_last_log: state.count }, msg)
    state.at = now
    state.count = 0
  }

  /** Closes the sockets still waiting (listener stop). */
  close (): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    for (const { socket } of this.#queue.splice(0)) socket.destroy()
  }
}
