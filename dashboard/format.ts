// Numbers, durations and dates in the current language.
import { lang, t } from './i18n'

export const num = (n: number | null | undefined) => n === null || n === undefined ? '—' : n.toLocaleString(lang.get())

export function duration (ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—'
  const s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  return t('fmt.duration', { d, h, m, s: s % 60 })
}

export function date (value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—'
  if (value === 'infinity') return t('fmt.never')
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString(lang.get())
}

export const text = (value: unknown) => value === null || value === undefined || value === '' ? '—' : String(value)
