// prometheus, sysmon, stats and trace.
import { z } from 'zod'
import { bool, duration, durationOrDisabled, int, percent, size } from '../types.js'
import { section, noEffect, notYet, erlang, enabled } from './marks.js'

const prometheusCollectors = noEffect(section({
  vm_dist: enabled.default('disabled'),
  mnesia: enabled.default('disabled'),
  vm_statistics: enabled.default('disabled'),
  vm_system_info: enabled.default('disabled'),
  vm_memory: enabled.default('disabled'),
  vm_msacc: enabled.default('disabled'),
}), 'Erlang VM collectors; Culex always exports the nodejs_* and process_* metrics instead.')

const PUSH_GATEWAY = 'pushing metrics to a Prometheus push gateway'
const legacyCollector = () => noEffect(enabled.default('disabled'), 'an Erlang VM collector (EMQX 5.0\'s form); Culex always exports the nodejs_* and process_* metrics instead.')

// EMQX takes both its current form (push_gateway {...}, collectors {...}) and the 5.0 form (push_gateway_server, ..._collector).
export const prometheus = section({
  enable_basic_auth: bool().default(false).describe('Ask for an API key (HTTP basic auth, api_key.bootstrap_file) on /api/v5/prometheus/stats; false: it is public, as in EMQX.'),
  push_gateway: notYet(section({
    enable: bool().default(false),
    method: z.enum(['put', 'post']).default('put'),
    url: z.string().default('http://127.0.0.1:9091'),
    interval: duration().prefault('15s'),
    headers: z.record(z.string(), z.string()).default({}),
    job_name: z.string().default('${name}/instance/${name}~${host}'),
  }), PUSH_GATEWAY),
  collectors: prometheusCollectors,
  push_gateway_server: notYet(z.string().optional(), PUSH_GATEWAY),
  interval: notYet(duration().optional(), PUSH_GATEWAY),
  headers: notYet(z.record(z.string(), z.string()).optional(), PUSH_GATEWAY),
  job_name: notYet(z.string().optional(), PUSH_GATEWAY),
  enable: notYet(bool().optional(), PUSH_GATEWAY),
  vm_dist_collector: legacyCollector(),
  mnesia_collector: legacyCollector(),
  vm_statistics_collector: legacyCollector(),
  vm_system_info_collector: legacyCollector(),
  vm_memory_collector: legacyCollector(),
  vm_msacc_collector: legacyCollector(),
})

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
