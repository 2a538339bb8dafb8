// Short messages after an action, announced by screen readers (aria-live) and gone after a few seconds.
import { html } from 'htm/preact'
import { createStore } from '../store'
import { t } from '../i18n'

interface Toast { id: number, text: string, kind: 'ok' | 'error' }

const toasts = createStore<Toast[]>([])
let next = 0

export function toast (text: string, kind: Toast['kind'] = 'ok'): void {
  const id = ++next
  toasts.set([...toasts.get(), { id, text, kind }])
  setTimeout(() => dismiss(id), kind === 'error' ? 10_000 : 5_000)
}

function dismiss (id: number): void {
  toasts.set(toasts.get().filter((x) => x.id !== id))
}

export function Toasts () {
  const list = toasts.use()
  return html`
    <div class="toasts" role="status" aria-live="polite">
      ${list.map((x) => html`<div key=${x.id} class=${`toast ${x.kind}`}>
        <span>${x.text}</span>
        <button type="button" class="link" onClick=${() => dismiss(x.id)} aria-label=${t('toast.dismiss')}>×</button>
      </div>`)}
    </div>`
}
