// t('key'): every visible string comes from the dictionary of the chosen language. The browser's language is the
// default; a choice made in the header is remembered in localStorage (a preference, not a secret).
import { createStore } from '../store'
import { en, type Dict } from './en'
import { ja } from './ja'

export type Lang = 'en' | 'ja'
export type Key = keyof Dict

export const LANGS: Record<Lang, Dict> = { en, ja }
const KEY = 'culex.lang'

function initial (): Lang {
  const saved = localStorage.getItem(KEY)
  if (saved === 'en' || saved === 'ja') return saved
  return navigator.languages.some((l) => l.toLowerCase().startsWith('ja')) && !navigator.language.toLowerCase().startsWith('en') ? 'ja' : 'en'
}

export const lang = createStore<Lang>(initial())
document.documentElement.lang = lang.get()

export function setLang (value: Lang): void {
  localStorage.setItem(KEY, value)
  document.documentElement.lang = value
  lang.set(value)
}

/** The text of key in the current language, {name} placeholders filled from vars. */
export function t (key: Key, vars?: Record<string, string | number>): string {
  const text: string = LANGS[lang.get()][key]
  return vars ? text.replace(/\{(\w+)\}/g, (m, name: string) => name in vars ? String(vars[name]) : m) : text
}
