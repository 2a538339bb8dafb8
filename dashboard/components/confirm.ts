// confirmAction(...) opens a modal <dialog> (focus kept inside, Escape cancels) and resolves with the choice.
import { html } from 'htm/preact'
import { useEffect, useRef } from 'preact/hooks'
import { createStore } from '../store'
import { t } from '../i18n'

interface Pending { title: string, message: string, confirm: string, resolve: (ok: boolean) => void }

const pending = createStore<Pending | null>(null)

export function confirmAction (opts: { title: string, message: string, confirm: string }): Promise<boolean> {
  pending.get()?.resolve(false)
  return new Promise((resolve) => pending.set({ ...opts, resolve }))
}

export function ConfirmHost () {
  const current = pending.use()
  const dialog = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const d = dialog.current
    if (!d) return
    if (current && !d.open) d.showModal()
    if (!current && d.open) d.close()
  }, [current])
  const answer = (ok: boolean) => {
    current?.resolve(ok)
    pending.set(null)
  }
  return html`
    <dialog ref=${dialog} class="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-message" onCancel=${(e: Event) => { e.preventDefault(); answer(false) }}>
      ${current ? html`
        <h2 id="confirm-title">${current.title}</h2>
        <p id="confirm-message">${current.message}</p>
        <div class="actions">
          <button type="button" onClick=${() => answer(false)} autofocus>${t('action.cancel')}</button>
          <button type="button" class="danger" onClick=${() => answer(true)}>${current.confirm}</button>
        </div>` : null}
    </dialog>`
}
