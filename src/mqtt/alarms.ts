// Alarms (EMQX's emqx_alarm): conditions the broker detects are raised by name and cleared when they end.
// Raising one already raised, or clearing one not raised, does nothing. alarm.actions: `log` writes a
// warning line for each change; `publish` sends the alarm as JSON to $SYS/brokers/<node>/alarms/activate
// and .../deactivate. Cleared alarms are kept as history: at most alarm.size_limit of them (the oldest
// go first), each for alarm.validity_period after it was cleared.
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { ClientInfo } from './hooks.js'
import { createMessage, type Message } from './message.js'

export type AlarmDetails = Record<string, unknown>

export interface Alarm {
  name: string
  message: string
  details: AlarmDetails
  /** Epoch ms. */
  activateAt: number
  /** Epoch ms; undefined while raised. */
  deactivateAt: number | undefined
}

/** What the parts that detect conditions call. */
export interface AlarmSink {
  /** Raises `name` (once: a second raise while it is raised does nothing); returns whether it was raised now. */
  activate (name: string, details: AlarmDetails, message: string): boolean
  /** Clears `name` if raised; returns whether it was. */
  deactivate (name: string, details?: AlarmDetails, message?: string): boolean
  isActive (name: string): boolean
}

export interface AlarmsCore {
  readonly config: CulexConfig
  readonly log: Log
  publish (message: Message, client: ClientInfo | null): void
}

export class Alarms implements AlarmSink {
  readonly #core: AlarmsCore
  readonly #active = new Map<string, Alarm>()
  /** Cleared alarms, oldest first. */
  #history: Alarm[] = []
  #timer: NodeJS.Timeout | null = null

  constructor (core: AlarmsCore) {
    this.#core = core
  }

  get #config (): CulexConfig['alarm'] { return this.#core.config.alarm }

  activate (name: string, details: AlarmDetails, message: string): boolean {
    if (this.#active.has(name)) return false
    const alarm: Alarm = { name, message: message || name, details, activateAt: Date.now(), deactivateAt: undefined }
    this.#active.set(name, alarm)
    this.#act('activate', alarm)
    return true
  }

  deactivate (name: string, details?: AlarmDetails, message?: string): boolean {
    const alarm = this.#active.get(name)
    if (!alarm) return false
    this.#active.delete(name)
    alarm.deactivateAt = Date.now()
    const history = this.#history
    const limit = this.#config.size_limit
    if (history.length >= limit) history.splice(0, history.length - limit + 1)
    history.push(alarm)
    this.#expireLater()
    this.#act('deactivate', { ...alarm, details: details ?? alarm.details, message: message || alarm.message })
    return true
  }

  isActive (name: string): boolean { return this.#active.has(name) }

  /** Raised alarms (activated) or the history of cleared ones, oldest first. */
  list (activated: boolean): Alarm[] {
    if (activated) return [...this.#active.values()]
    this.#expire(Date.now())
    return [...this.#history]
  }

  /** Forgets every cleared alarm (DELETE /api/v5/alarms). */
  deleteDeactivated (): void {
    this.#history = []
  }

  stop (): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  #expire (now: number): void {
    const cutoff = now - this.#config.validity_period
    let n = 0
    while (n < this.#history.length && this.#history[n]!.deactivateAt! <= cutoff) n++
    if (n > 0) this.#history.splice(0, n)
  }

  /** One timer, for the oldest cleared alarm's end of validity. */
  #expireLater (): void {
    if (this.#timer !== null || this.#history.length === 0) return
    const due = this.#history[0]!.deactivateAt! + this.#config.validity_period - Date.now()
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#expire(Date.now())
      this.#expireLater()
    }, Math.max(0, Math.min(due, 2 ** 31 - 1))).unref()
  }

  #act (op: 'activate' | 'deactivate', alarm: Alarm): void {
    const actions = this.#config.actions
    if (actions.includes('log')) {
      if (op === 'activate') this.#core.log.warning({ alarm: alarm.name, details: alarm.details }, `alarm raised: ${alarm.message}`)
      else this.#core.log.warning({ alarm: alarm.name }, `alarm cleared: ${alarm.name}`)
    }
    if (actions.includes('publish')) {
      // EMQX's normalized alarm: times in microseconds, deactivate_at "infinity" while raised.
      const payload = {
        name: alarm.name,
        details: alarm.details,
        message: alarm.message,
        activate_at: alarm.activateAt * 1000,
        deactivate_at: alarm.deactivateAt === undefined ? 'infinity' : alarm.deactivateAt * 1000,
        activated: op === 'activate',
      }
      const topic = `$SYS/brokers/${this.#core.config.node.name}/alarms/${op}`
      this.#core.publish(createMessage(topic, Buffer.from(JSON.stringify(payload)), 0, false, { contentType: 'application/json' }), null)
    }
  }
}
