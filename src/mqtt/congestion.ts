// conn_congestion (EMQX's emqx_congestion): an alarm conn_congestion/<clientid>/<username> while a
// connection's unsent data is above mqtt.max_write_buffer (Culex's measure of a congested socket; EMQX
// looks at the socket's send queue). As in EMQX it is raised at once, and cleared only once the connection
// has not been seen congested for min_alarm_sustain_duration, or when the connection ends.
import type { AlarmSink } from './alarms.js'
import type { ClientInfo } from './hooks.js'

export interface CongestedConnection {
  readonly client: ClientInfo | null
  readonly unsentBytes: number
  readonly protocolVersion: number
  readonly state: string
}

/** EMQX's alarm name: the reason, the client id and the user name (unknown_user without one). */
export function congestionAlarmName (client: ClientInfo): string {
  return `conn_congestion/${client.clientId}/${client.username ?? 'unknown_user'}`
}

export class CongestionWatch {
  readonly #alarms: AlarmSink
  readonly #sustainMs: number
  #name: string | null = null
  /** When the connection was last seen congested. */
  #lastAt = 0

  constructor (alarms: AlarmSink, sustainMs: number) {
    this.#alarms = alarms
    this.#sustainMs = sustainMs
  }

  get raised (): boolean { return this.#name !== null }

  /** Seen congested (`true`) or not at `now`. */
  update (conn: CongestedConnection, congested: boolean, now: number, limit: number): void {
    if (congested) {
      this.#lastAt = now
      if (this.#name !== null || conn.client === null) return
      this.#name = congestionAlarmName(conn.client)
      this.#alarms.activate(this.#name, details(conn, limit), `connection congested: ${conn.unsentBytes} bytes unsent, above mqtt.max_write_buffer (${limit})`)
    } else if (this.#name !== null && now - this.#lastAt >= this.#sustainMs) {
      this.cancel(conn, limit)
    }
  }

  /** The connection ended (or drained long enough): clears the alarm if raised. */
  cancel (conn: CongestedConnection, limit: number): void {
    if (this.#name === null) return
    const name = this.#name
    this.#name = null
    this.#alarms.deactivate(name, details(conn, limit))
  }
}

function details (conn: CongestedConnection, limit: number): Record<string, unknown> {
  const c = conn.client!
  return {
    clientid: c.clientId,
    username: c.username ?? null,
    peername: `${c.remoteAddress}:${c.remotePort}`,
    proto_name: conn.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    proto_ver: conn.protocolVersion,
    connected_at: c.connectedAt,
    conn_state: conn.state,
    send_pend: conn.unsentBytes,
    max_write_buffer: limit,
  }
}
