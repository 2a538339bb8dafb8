// What protects the broker from its clients: force_shutdown, overload_protection, alarms, flapping_detect, node-wide limiter, banned.
import { z } from 'zod'
import { bool, duration, int, rate, size, watermark } from '../types.js'
import { section, noEffect, notYet, erlang } from './marks.js'

// EMQX's force_shutdown acts on an Erlang process's mailbox and heap; Node has no heap per connection, so
// max_heap_size bounds the bytes a client pins instead (src/mqtt/memory.ts).
export const forceShutdown = section({
  enable: bool().default(true).describe('Bound what one client holds in memory and disconnect slow consumers (MQTT 5: DISCONNECT 0x97 Quota exceeded) as the keys below say.'),
  max_heap_size: size().prefault('32MB').describe('Bytes one client may pin: its topic aliases, subscriptions, queued and in-flight messages, will and partial packet (0 = no limit). Over it the client is disconnected (checked at once for aliases, every 0.5 s for the rest); a SUBSCRIBE that would pass it gets 0x97 for the new filters, and its session\'s queue drops the oldest messages beyond it. Unsent data over it disconnects a slow consumer too. Keep it above mqtt.max_write_buffer.'),
  write_buffer_timeout: duration().prefault('10s').describe('A client whose unsent bytes stay above mqtt.max_write_buffer this long, while messages keep coming, is disconnected.'),
  max_mailbox_size: noEffect(int().pipe(z.number().min(0)).default(1000), 'an Erlang mailbox; mqtt.max_mqueue_len and the keys above bound a client instead.'),
})

export const overloadProtection = section({
  enable: bool().default(true).describe('Refuse new connections while the broker\'s memory is above mem_high_watermark, with the alarm high_broker_memory_usage raised.'),
  mem_high_watermark: watermark().prefault('80%').describe('Resident memory above which new connections are closed at accept (logged, counted) until it falls back: a size, or a percentage of the memory the process may use (its cgroup limit, else the host\'s).'),
  backoff_delay: erlang(int().pipe(z.number().min(0)).default(1)),
  backoff_gc: erlang(bool().default(false)),
  backoff_hibernation: erlang(bool().default(true)),
  backoff_new_conn: noEffect(bool().default(true), 'Culex always refuses new connections while overloaded (see enable).'),
})

export const alarm = section({
  actions: z.array(z.enum(['log', 'publish'])).default(['log', 'publish']).describe('What raising an alarm does: log it, publish it under $SYS/brokers/<node>/alarms/.'),
  size_limit: int().pipe(z.number().min(1).max(3000)).default(1000).describe('Most deactivated alarms kept as history.'),
  validity_period: duration().prefault('24h').describe('How long a deactivated alarm is kept.'),
}).describe('Alarms (GET/DELETE /api/v5/alarms): conn_congestion/<clientid>/<username>, high_cpu_usage and high_system_memory_usage (sysmon.os), high_broker_memory_usage (overload_protection refusing connections: the broker\'s resident memory above mem_high_watermark), certificate_expiring/<listener>[/<namespace>/<bundle>] (a certificate an ssl or wss listener serves ends within 30 days, or has ended).')

export const connCongestion = section({
  enable_alarm: bool().default(true).describe('Raise an alarm while a connection\'s unsent data is above mqtt.max_write_buffer.'),
  min_alarm_sustain_duration: duration().prefault('1m').describe('Shortest time an alarm stays raised.'),
}).describe('The alarm conn_congestion/<clientid>/<username>: raised while a connection\'s unsent data is above mqtt.max_write_buffer, cleared once it has not been for min_alarm_sustain_duration (or the connection ends).')

export const flappingDetect = section({
  enable: bool().default(false).describe('Ban a client identifier that connects max_count times within window_time (EMQX 5.8 counts each CONNECT that passes the ban check, before authentication): it is banned as clientid for ban_time, listed in /api/v5/banned (by "flapping detector") and logged at warning.'),
  window_time: duration().prefault('1m').describe('Window in which one client identifier\'s CONNECTs are counted; it starts at the first one.'),
  max_count: int().pipe(z.number().min(0)).default(15).describe('CONNECTs of one client identifier within window_time that get it banned; the one reaching it is served, the next is refused with 0x8A (Banned).'),
  ban_time: duration().prefault('5m').describe('How long a flapping client identifier is banned.'),
})

// EMQX 5.8's node-wide limiter: the short forms, and a burst per limiter type.
const bucket = () => noEffect(section({ burst: z.union([z.string(), z.number()]).default('0') }), 'EMQX\'s token bucket bursts; Culex\'s rates are per period.')
export const limiter = section({
  max_conn_rate: notYet(rate().prefault('infinity'), 'node-wide rate limits', 'New connections accepted per period on this node, all listeners together; the listeners\' max_conn_rate works.'),
  messages_rate: notYet(rate().prefault('infinity'), 'node-wide rate limits', 'PUBLISH packets per period on this node, all clients together; the listeners\' messages_rate works per client.'),
  bytes_rate: notYet(rate(true).prefault('infinity'), 'node-wide rate limits', 'PUBLISH bytes per period on this node, all clients together; the listeners\' bytes_rate works per client.'),
  bytes: bucket(),
  messages: bucket(),
  connection: bucket(),
  message_routing: bucket(),
  internal: bucket(),
})

export const banned = section({
  bootstrap_file: z.string().optional().describe('A CSV of bans (EMQX 5.8\'s format: a header row naming the columns as, who, reason, by, at, until; as and who required; at and until RFC 3339 or epoch seconds, until infinity by default) imported at start while there is no ban (a cluster\'s bans win). A row that is no ban is logged and skipped; an unreadable file, or a header without as and who, stops start-up.'),
})
