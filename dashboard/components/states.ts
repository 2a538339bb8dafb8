// Loading, error and empty states, the same on every page.
import type { ComponentChildren } from 'preact'
import { html } from 'htm/preact'
import { ApiError } from '../api'
import { t } from '../i18n'
import type { ApiState } from './use-api'

export function ErrorNote ({ error }: { error: Error }) {
  const code = error instanceof ApiError ? `${error.code}: ` : ''
  const text = error instanceof ApiError && error.status === 404 ? t('state.unavailable') : `${code}${error.message}`
  return html`<p class="note error" role="alert">${t('state.error')} ${text}</p>`
}

/** children(data) once data is there; a note while it loads, when it failed, or when isEmpty(data). */
export function Loadable<T> ({ state, children, isEmpty }: { state: ApiState<T>, children: (data: T) => ComponentChildren, isEmpty?: (data: T) => boolean }) {
  if (state.data === undefined) {
    if (state.error) return html`<${ErrorNote} error=${state.error} />`
    return html`<p class="note" role="status">${t('state.loading')}</p>`
  }
  return html`
    ${state.error ? html`<${ErrorNote} error=${state.error} />` : null}
    ${isEmpty?.(state.data) ? html`<p class="note empty">${t('state.empty')}</p>` : children(state.data)}
  `
}
