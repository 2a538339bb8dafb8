// node.* and durable_storage.*.
import { z } from 'zod'
import { duration, durationOrDisabled, int, size } from '../types.js'
import { section, noEffect, erlang } from './marks.js'

export const node = section({
  name: z.string().default('culex@127.0.0.1').describe('Node name, shown in $SYS topics and the API; unique within a cluster (a second node with the same name refuses to start).'),
  data_dir: z.string().default('data').describe('Directory for sessions, certificates and registries.'),
  cookie: noEffect(z.string().optional(), 'Culex nodes do not use Erlang cookies.'),
  workers: z.union([z.literal('auto'), int().pipe(z.number().min(1).max(256))]).default(1).describe('Broker processes on this host (`culex start` only; embedded brokers are one). auto: one per CPU core. More than 1: the workers share every listener, send messages to each other over Unix sockets of their own (in node.data_dir/workers) and keep one session per client through their primary process, without Redis; each is named <name>-w<i> (before the @) and keeps its durable store in node.data_dir/store-w<i>. Not combined with cluster.backend = redis.'),
  // EMQX's other node keys tune the Erlang VM and its distribution.
  process_limit: erlang(int().optional()),
  max_ports: erlang(int().default(1048576)),
  dist_buffer_size: erlang(int().default(8192)),
  max_ets_tables: erlang(int().default(262144)),
  config_files: noEffect(z.array(z.string()).optional(), 'Culex reads the file given with -c (and what it includes).'),
  global_gc_interval: noEffect(durationOrDisabled().prefault('disabled'), 'Node\'s garbage collector runs on its own; a forced global collection needs --expose-gc.'),
  crash_dump_file: erlang(z.string().optional()),
  crash_dump_seconds: erlang(duration().prefault('30s')),
  crash_dump_bytes: erlang(size().prefault('100MB')),
  dist_net_ticktime: erlang(duration().prefault('2m')),
  backtrace_depth: erlang(int().default(23)),
  applications: erlang(z.string().default('')),
  etc_dir: noEffect(z.string().optional(), 'relative paths are relative to the working directory; ${EMQX_ETC_DIR} in a file path is the environment variable, else the configuration file\'s directory.'),
  cluster_call: noEffect(section({
    retry_interval: duration().prefault('1m'),
    max_history: int().pipe(z.number().min(100).max(10240)).default(1024),
    cleanup_interval: duration().prefault('24h'),
  }), 'Culex nodes share configuration changes through cluster.backend = redis, not a cluster-call log.'),
  db_backend: noEffect(z.enum(['mnesia', 'rlog']).default('rlog'), 'Culex keeps no Mnesia database.'),
  role: noEffect(z.enum(['core', 'replicant']).default('core'), 'every Culex node has the same role.'),
  rpc_module: erlang(z.enum(['gen_rpc', 'rpc']).default('rpc')),
  tlog_push_mode: noEffect(z.enum(['sync', 'async']).default('async'), 'Culex keeps no Mnesia database.'),
  default_shard_transport: noEffect(z.enum(['gen_rpc', 'distr']).default('distr'), 'Culex keeps no Mnesia database.'),
  shard_transports: noEffect(z.record(z.string(), z.enum(['gen_rpc', 'distr'])).default({}), 'Culex keeps no Mnesia database.'),
  default_bootstrap_batch_size: noEffect(int().default(500), 'Culex keeps no Mnesia database.'),
  broker_pool_size: erlang(int().optional()),
  generic_pool_size: erlang(int().optional()),
  channel_cleanup_batch_size: erlang(int().default(100000)),
})

export const durableStorage = section({
  backend: z.enum(['lmdb', 'memory']).default('lmdb').describe('lmdb keeps persistent sessions, retained messages and the device registry in node.data_dir/store across restarts; memory keeps them only while the process runs (tests, embedding).'),
})
