// EMQX sections for the Erlang VM and its internals: accepted, without effect.
import { z } from 'zod'
import { bool, duration, int, size } from '../types.js'
import { section, noEffect } from './marks.js'

export const forceGc = noEffect(section({
  enable: bool().default(true),
  count: int().pipe(z.number().min(0)).default(16000),
  bytes: size().prefault('16MB'),
}), 'Erlang collects garbage per process; Node has one heap, collected by V8 on its own.')

export const rpc = noEffect(section({
  mode: z.enum(['sync', 'async']).default('async'),
  protocol: z.enum(['tcp', 'ssl']).default('tcp'),
  async_batch_size: int().default(256),
  port_discovery: z.enum(['manual', 'stateless']).default('stateless'),
  server_port: int().default(5369),
  client_num: int().pipe(z.number().min(1).max(256)).default(10),
  connect_timeout: duration().prefault('5s'),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  cacertfile: z.string().optional(),
  send_timeout: duration().prefault('5s'),
  authentication_timeout: duration().prefault('5s'),
  call_receive_timeout: duration().prefault('15s'),
  socket_keepalive_idle: duration().prefault('15m'),
  socket_keepalive_interval: duration().prefault('75s'),
  socket_keepalive_count: int().default(9),
  socket_sndbuf: size().prefault('1MB'),
  socket_recbuf: size().prefault('1MB'),
  socket_buffer: size().prefault('1MB'),
  insecure_fallback: bool().default(true),
  ciphers: z.union([z.string(), z.array(z.string())]).optional(),
  tls_versions: z.array(z.string()).optional(),
  listen_address: z.string().default('0.0.0.0'),
  ipv6_only: bool().default(false),
}), 'Culex nodes do not use Erlang RPC (gen_rpc); cluster.backend = redis carries what they exchange.')

export const durableSessions = noEffect(section({
  enable: bool().default(false),
  batch_size: int().pipe(z.number().min(1)).default(100),
  idle_poll_interval: duration().prefault('10s'),
  heartbeat_interval: duration().prefault('5000ms'),
  renew_streams_interval: duration().prefault('1s'),
  session_gc_interval: duration().prefault('10m'),
  session_gc_batch_size: int().pipe(z.number().min(1)).default(100),
  subscription_count_refresh_interval: duration().prefault('5s'),
  disconnected_session_count_refresh_interval: duration().prefault('5s'),
  message_retention_period: duration().prefault('1d'),
  force_persistence: bool().default(false),
}), 'Culex keeps persistent sessions in its data store (durable_storage.backend) whatever this says.')

export const broker = noEffect(section({
  enable_session_registry: bool().default(true),
  session_history_retain: duration().prefault('0s'),
  session_locking_strategy: z.enum(['local', 'leader', 'quorum', 'all']).default('quorum'),
  route_batch_clean: bool().default(true),
  perf: section({
    route_lock_type: z.enum(['key', 'tab', 'global']).default('key'),
    trie_compaction: bool().default(true),
  }),
  routing: section({
    storage_schema: z.enum(['v1', 'v2']).default('v2'),
    batch_sync: section({ enable_on: z.enum(['none', 'core', 'replicant', 'all']).default('none') }),
  }),
  shared_subscription_group: z.record(z.string(), section({
    strategy: z.enum(['random', 'round_robin', 'round_robin_per_group', 'sticky', 'local', 'hash_topic', 'hash_clientid']).default('random'),
    initial_sticky_pick: z.enum(['random', 'local', 'hash_topic', 'hash_clientid']).default('random'),
  })).default({}),
}), 'EMQX\'s internal routing and session registry; mqtt.shared_subscription_strategy applies to every group.')
