// Message features: sys_topics, retainer, delayed.
import { z } from 'zod'
import { bool, duration, durationOrDisabled, int, rate, size } from '../types.js'
import { section, noEffect } from './marks.js'

export const sysTopics = section({
  sys_msg_interval: durationOrDisabled().prefault('1m').describe('Interval of $SYS/brokers/<node>/... stats and metrics messages (disabled = none).'),
  sys_heartbeat_interval: durationOrDisabled().prefault('30s').describe('Interval of $SYS/brokers/<node>/uptime and datetime messages.'),
  sys_event_messages: section({
    client_connected: bool().default(true).describe('Publish $SYS/brokers/<node>/clients/<clientid>/connected.'),
    client_disconnected: bool().default(true).describe('Publish $SYS/brokers/<node>/clients/<clientid>/disconnected.'),
    client_subscribed: bool().default(false).describe('Publish $SYS/brokers/<node>/clients/<clientid>/subscribed.'),
    client_unsubscribed: bool().default(false).describe('Publish $SYS/brokers/<node>/clients/<clientid>/unsubscribed.'),
  }).describe('JSON event messages (EMQX\'s fields) as clients connect, disconnect, subscribe and unsubscribe; QoS 0, not retained. A client id with %, /, +, # or control characters is percent-encoded in the topic, to stay one level.'),
})

export const retainer = z.strictObject({
  enable: bool().default(true).describe('Whether retained messages are stored.'),
  max_payload_size: size().prefault('1MB').describe('Largest retained payload kept.'),
  msg_expiry_interval: duration().prefault('0s').describe('Retained messages expire after this long (0 = never).'),
  max_retained_messages: int().pipe(z.number().min(0)).default(0).describe('Most retained messages (0 = no limit); EMQX 5 writes it as backend.max_retained_messages, which applies when this is 0.'),
  msg_expiry_interval_override: durationOrDisabled().prefault('disabled').describe('A retained message stored longer ago than this is removed at the next msg_clear_interval even when its own expiry (Message Expiry Interval, or msg_expiry_interval) is later; as in EMQX 5.8 it acts through msg_clear_interval only (0s there: no effect), and until then the message is still delivered. disabled: messages keep their own expiry.'),
  allow_never_expire: bool().default(true).describe('With msg_expiry_interval_override: true keeps a retained message that has no expiry (Message Expiry Interval 0 or absent, msg_expiry_interval 0) out of the override; false removes it too once stored longer than the override.'),
  msg_clear_interval: duration().prefault('0s').describe('How often expired retained messages are removed from the store (0 = never: they are skipped when delivered, and stay).'),
  msg_clear_limit: int().pipe(z.number().min(1)).default(50000).describe('Most expired retained messages removed at each msg_clear_interval.'),
  flow_control: noEffect(section({
    batch_read_number: int().default(0),
    batch_deliver_number: int().default(0),
    batch_deliver_limiter: z.record(z.string(), z.unknown()).optional(),
  }), 'EMQX\'s internal batching of retained deliveries.'),
  stop_publish_clear_msg: bool().default(false).describe('Do not forward a retained message with an empty payload (which clears the topic\'s retained message) to subscribers; it still clears the topic.'),
  delivery_rate: rate().prefault('1000/s').describe('Retained messages a new subscription is sent, at most this many per period: in batches of the amount, one batch per period (infinity = all at once).'),
  max_publish_rate: rate().prefault('1000/s').describe('Retained messages stored (or cleared) per period on this node; past it a retained message is delivered but not stored, as in EMQX (infinity = no limit).'),
  backend: section({
    type: z.literal('built_in_database').default('built_in_database').describe('Where retained messages are kept: built_in_database (Culex\'s data store, see durable_storage.backend).'),
    storage_type: noEffect(z.enum(['ram', 'disc']).default('ram'), 'durable_storage.backend decides where retained messages are kept.'),
    max_retained_messages: int().pipe(z.number().min(0)).default(0).describe('Most retained messages (0 = no limit); retainer.max_retained_messages, when set, wins.'),
    index_specs: noEffect(z.array(z.array(int())).optional(), 'Culex indexes retained topics its own way.'),
    enable: bool().default(true).describe('Whether this backend is used (the only one Culex has).'),
  }).describe('EMQX\'s retained message store.'),
}).transform(({ backend, ...rest }) => ({
  ...rest,
  backend,
  max_retained_messages: rest.max_retained_messages || backend.max_retained_messages,
})).prefault({})

export const delayed = section({
  enable: bool().default(true).describe('Hold messages published to $delayed/<seconds>/<topic> for that many seconds (below 4294967; a larger number is a Unix time at most 4294967 s ahead), then publish them to <topic>; the publisher is authorized for <topic>. MQTT 5 publishers are acknowledged 0x10 (No matching subscribers) as in EMQX. Held messages are kept in the data store when durable_storage.backend = lmdb; /api/v5/mqtt/delayed lists and deletes them. false: $delayed/ is an ordinary topic.'),
  max_delayed_messages: int().pipe(z.number().min(0)).default(0).describe('Most delayed messages held (0 = no limit); past it a delayed PUBLISH is refused with 0x97 (Quota exceeded).'),
})
