// A data table with a caption for screen readers, and a pager for EMQX's {data, meta} lists.
import type { ComponentChildren } from 'preact'
import { html } from 'htm/preact'
import { t, type Key } from '../i18n'

export interface Column<R> {
  label: Key
  value: (row: R) => ComponentChildren
  numeric?: boolean
}

export function DataTable<R> ({ caption, columns, rows, rowKey }: { caption: string, columns: Column<R>[], rows: R[], rowKey: (row: R) => string }) {
  if (rows.length === 0) return html`<p class="note empty">${t('state.empty')}</p>`
  return html`
    <div class="table-wrap">
      <table>
        <caption class="sr-only">${caption}</caption>
        <thead><tr>${columns.map((c) => html`<th scope="col" class=${c.numeric ? 'num' : ''}>${t(c.label)}</th>`)}</tr></thead>
        <tbody>
          ${rows.map((row) => html`<tr key=${rowKey(row)}>${columns.map((c) => html`<td class=${c.numeric ? 'num' : ''}>${c.value(row)}</td>`)}</tr>`)}
        </tbody>
      </table>
    </div>`
}

export function Pager ({ page, hasnext, count, onPage }: { page: number, hasnext: boolean, count?: number, onPage: (page: number) => void }) {
  return html`
    <nav class="pager" aria-label=${t('pager.label')}>
      <button type="button" disabled=${page <= 1} onClick=${() => onPage(page - 1)}>${t('pager.prev')}</button>
      <span>${t('pager.page', { page })}${count === undefined ? '' : ` · ${t('pager.count', { count })}`}</span>
      <button type="button" disabled=${!hasnext} onClick=${() => onPage(page + 1)}>${t('pager.next')}</button>
    </nav>`
}
