// A search form over a paged list: fields edited as a draft, applied on Search (back to page 1), cleared by Reset.
import type { ComponentChildren } from 'preact'
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { t } from '../i18n'

export interface Filters<F extends Record<string, string>> {
  applied: F
  page: number
  setPage: (page: number) => void
  /** name, value and onValue of one field, for Input or Select. */
  field: (name: keyof F & string) => { name: string, value: string, onValue: (value: string) => void }
  apply: () => void
  reset: () => void
}

export function useFilters<F extends Record<string, string>> (empty: F): Filters<F> {
  const [draft, setDraft] = useState(empty)
  const [applied, setApplied] = useState(empty)
  const [page, setPage] = useState(1)
  return {
    applied,
    page,
    setPage,
    field: (name) => ({ name, value: draft[name] ?? '', onValue: (value: string) => setDraft((d) => ({ ...d, [name]: value })) }),
    apply: () => { setPage(1); setApplied(draft) },
    reset: () => { setDraft(empty); setApplied(empty); setPage(1) },
  }
}

export function FilterForm<F extends Record<string, string>> ({ label, filters, children }: { label: string, filters: Filters<F>, children: ComponentChildren }) {
  return html`
    <form class="filters card" role="search" aria-label=${label} onSubmit=${(e: Event) => { e.preventDefault(); filters.apply() }}>
      ${children}
      <div class="filter-actions">
        <button type="submit" class="primary">${t('action.search')}</button>
        <button type="button" onClick=${filters.reset}>${t('action.reset')}</button>
      </div>
    </form>`
}
