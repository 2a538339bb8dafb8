// prometheus, sysmon, stats and trace.
import { z } from 'zod'
import { bool, duration, durationOrDisabled, int, percent, size } from '../types.js'
import { section, noEffect, erlang, enabled } from './marks.js'

const prometheusCollectors = noEffect(section({
  vm_dist: enabled.default('disabled'),
  mnesia: enabled.default('disabled'),
  vm_statistics: enabled.default('disabled'),
  vm_system_info: enabled.default('disabled'),
  vm_memory: enabled.default('disabled'),
  vm_msacc: enabled.default('disabled'),
}), 'Erlang VM collectors; Culex always exports the nodejs_* and process_* metrics instead.')

const legacyCollector = () => noEffect(enabled.default('disabled'), 'an Erlang VM collector (EMQX 5.0\'s form); Culex always exports the nodejs_* and process_* metrics instead.')
const LEGACY_PUSH = ['push_gateway_server', 'interval', 'headers', 'job_name', 'enable'] as const
const JOB_NAME = 'Job name in the push URL (<url>/metrics/job/<job_name>): ${name} and ${host} are node.name before and after its @, ${cluster_name} is cluster.name; "/" separates the grouping labels, as the push gateway reads them.'

// EMQX takes both its current form (push_gateway {...}, collectors {...}) and the 5.0 form (push_gateway_server, ..._collector).
export const prometheus = z.preprocess(onePushForm, section({
  enable_basic_auth: bool().default(false).describe('Ask for an API key (HTTP basic auth, api_key.bootstrap_file) on /api/v5/prometheus/stats; false: it is public, as in EMQX.'),
  push_gateway: section({
    enable: bool().default(false).describe('Push the metrics of /api/v5/prometheus/stats to a Prometheus push gateway every interval (with or without the management API). A failed push is logged, one line a minute at most while it fails.'),
    method: z.enum(['put', 'post']).default('put').describe('put: the push replaces every metric of the job\'s group; post: only those of the same names.'),
    url: z.string().default('http://127.0.0.1:9091').describe('The push gateway\'s base URL; empty: no push.'),
    interval: duration().prefault('15s').describe('Time from the end of one push to the next.'),
    headers: z.record(z.string(), z.string()).default({}).describe('HTTP headers sent with each push, e.g. { Authorization = "Basic ..." }.'),
    job_name: z.string().default('${name}/instance/${name}~${host}').describe(JOB_NAME),
  }).describe('Pushing metrics to a Prometheus push gateway (EMQX 5.8\'s form).'),
  collectors: prometheusCollectors,
  push_gateway_server: z.string().optional().describe('EMQX 5.0\'s form of push_gateway.url; with any of these five keys the section is read in that form (method put, enable false unless set).'),
  interval: duration().optional().describe('EMQX 5.0\'s form of push_gateway.interval (15s unless set).'),
  headers: z.record(z.string(), z.string()).optional().describe('EMQX 5.0\'s form of push_gateway.headers.'),
  job_name: z.string().optional().describe(`EMQX 5.0's form of push_gateway.job_name. ${JOB_NAME}`),
  enable: bool().optional().describe('EMQX 5.0\'s form of push_gateway.enable (false unless set).'),
  vm_dist_collector: legacyCollector(),
  mnesia_collector: legacyCollector(),
  vm_statistics_collector: legacyCollector(),
  vm_system_info_collector: legacyCollector(),
  vm_memory_collector: legacyCollector(),
  vm_msacc_collector: legacyCollector(),
}))

/** EMQX reads the section in one form or the other: push_gateway { ... } with EMQX 5.0's push keys is a mistake. */
function onePushForm (value: unknown, ctx: z.RefinementCtx): unknown {
  if (value === null || typeof value !== 'object' || !('push_gateway' in value)) return value
  const legacy = LEGACY_PUSH.filter((key) => key in value)
  if (legacy.length > 0) ctx.addIssue({ code: 'custom', path: [legacy[0]!], message: `EMQX 5.0's form (${legacy.join(', ')}) and push_gateway { ... } together: use one of them` })
  return value
}

export const sysmon = section({
  vm: noEffect(section({
    process_check_interval: duration().prefault('30s'),
    process_high_watermark: percent().prefault('80%'),
    process_low_watermark: percent().prefault('60%'),
    long_gc: durationOrDisabled().prefault('disabled'),
    long_schedule: durationOrDisabled().prefault('240ms'),
    large_heap: z.union([z.literal('disabled'), size()]).prefault('32MB'),
    busy_dist_port: bool().default(true),
    busy_port: bool().default(true),
  }), 'Erlang VM process monitoring.'),
  os: section({
    cpu_check_interval: duration().prefault('60s').describe('How often the host\'s CPU usage (all CPUs, busy share since the previous check) is compared with the marks.'),
    cpu_high_watermark: percent().prefault('80%').describe('CPU usage above which the alarm high_cpu_usage is raised.'),
    cpu_low_watermark: percent().prefault('60%').describe('CPU usage below which high_cpu_usage is cleared.'),
    mem_check_interval: durationOrDisabled().prefault('60s').describe('How often the host\'s memory usage ((total - available) / total) is compared with sysmem_high_watermark, on Linux (as EMQX); it is also checked once at start. disabled: only at start.'),
    sysmem_high_watermark: percent().prefault('70%').describe('Host memory usage above which the alarm high_system_memory_usage is raised; cleared at or below it.'),
    procmem_high_watermark: noEffect(percent().prefault('5%'), 'memory of one Erlang process; overload_protection.mem_high_watermark bounds the broker\'s memory.'),
  }).describe('Host CPU and memory monitoring: EMQX\'s alarms high_cpu_usage and high_system_memory_usage (GET /api/v5/alarms), with EMQX\'s details (usage, high_watermark, low_watermark) and messages ("85.20% cpu usage").'),
  top: noEffect(section({
    num_items: int().default(10),
    sample_interval: duration().prefault('2s'),
    max_procs: int().default(1000000),
    db_hostname: z.string().default(''),
    db_port: int().default(5432),
    db_username: z.string().default('system_monitor'),
    db_password: z.string().default('system_monitor_password'),
    db_name: z.string().default('postgres'),
  }), 'Erlang process top (system_monitor).'),
  mnesia_tm_mailbox_size_alarm_threshold: erlang(int().default(500)),
  broker_pool_mailbox_size_alarm_threshold: erlang(int().default(500)),
})

export const stats = section({
  enable: noEffect(bool().default(true), 'Culex always counts connections, sessions, topics and subscriptions.'),
})

export const trace = section({
  payload_encode: noEffect(z.enum(['hex', 'text', 'hidden']).default('text'), 'deprecated in EMQX 5.0.22; Culex has no traces.'),
})
