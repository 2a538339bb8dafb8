// sysmon.os (EMQX's emqx_os_mon): the host's CPU and memory, sampled every cpu_check_interval and
// mem_check_interval, raise and clear EMQX's alarms high_cpu_usage (above cpu_high_watermark, cleared below
// cpu_low_watermark) and high_system_memory_usage (above sysmem_high_watermark, cleared at or below it).
// As in EMQX: CPU usage is the share of time all CPUs were busy since the previous sample (the first sample
// only starts the count, and 0 is taken as no reading); memory is checked on Linux only, as
// (total - available) / total of the host, and once at start.
import { cpus, freemem, platform, totalmem } from 'node:os'
import type { CulexConfig } from '../config/schema.js'
import type { AlarmSink } from './alarms.js'

export const CPU_ALARM = 'high_cpu_usage'
export const SYSMEM_ALARM = 'high_system_memory_usage'

interface CpuTimes { busy: number, total: number }

function cpuTimes (): CpuTimes {
  let busy = 0
  let total = 0
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq
    busy += all - times.idle
    total += all
  }
  return { busy, total }
}

/** Percent with two decimals, rounded down (EMQX's current_sysmem_percent). */
const twoDecimals = (n: number) => Math.floor(n * 100) / 100

/** EMQX's usage_msg: "85.20% cpu usage", "71.03% mem usage". */
const usageMessage = (usage: number, what: 'cpu' | 'mem') => `${usage.toFixed(2)}% ${what} usage`

export class OsMonitor {
  readonly #config: CulexConfig['sysmon']['os']
  readonly #alarms: AlarmSink
  #last: CpuTimes | null = null
  readonly #timers: NodeJS.Timeout[] = []

  constructor (config: CulexConfig['sysmon']['os'], alarms: AlarmSink) {
    this.#config = config
    this.#alarms = alarms
  }

  start (): void {
    const { cpu_check_interval: cpuEvery, mem_check_interval: memEvery } = this.#config
    this.#last = cpuTimes()
    if (cpuEvery > 0) this.#timers.push(setInterval(() => this.checkCpu(), cpuEvery).unref())
    if (platform() === 'linux') {
      this.checkMemory()
      if (memEvery > 0) this.#timers.push(setInterval(() => this.checkMemory(), memEvery).unref())
    }
  }

  stop (): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer)
  }

  /** Busy share of every CPU since the last sample, in percent; undefined when no time passed. */
  #cpuUsage (): number | undefined {
    const now = cpuTimes()
    const last = this.#last ?? now
    this.#last = now
    const total = now.total - last.total
    return total > 0 ? twoDecimals(100 * (now.busy - last.busy) / total) : undefined
  }

  checkCpu (): void {
    const usage = this.#cpuUsage()
    if (usage === undefined || usage === 0) return
    const high = this.#config.cpu_high_watermark
    const low = this.#config.cpu_low_watermark
    const details = { usage, high_watermark: high, low_watermark: low }
    if (usage > high) this.#alarms.activate(CPU_ALARM, details, usageMessage(usage, 'cpu'))
    else if (usage < low) this.#alarms.deactivate(CPU_ALARM, details, usageMessage(usage, 'cpu'))
  }

  checkMemory (): void {
    const total = totalmem()
    if (total <= 0) return
    const usage = twoDecimals(100 * (total - freemem()) / total)
    const high = this.#config.sysmem_high_watermark
    const details = { usage, high_watermark: high }
    if (usage > high) this.#alarms.activate(SYSMEM_ALARM, details, usageMessage(usage, 'mem'))
    else this.#alarms.deactivate(SYSMEM_ALARM, details, usageMessage(usage, 'mem'))
  }
}
