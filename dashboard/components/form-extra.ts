// Labelled controls the shared field.ts lacks: a multi-line text (rules, keys, imports) with its error tied to it,
// and a check box.
import { html } from 'htm/preact'
import { useId } from 'preact/hooks'
import { t, type Key } from '../i18n'

export function TextArea ({ label, value, onValue, rows = 6, error, name, hint }: { label: Key, value: string, onValue: (value: string) => void, rows?: number, error?: string, name?: string, hint?: string }) {
  const id = useId()
  const described = [error ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ')
  return html`
    <div class="field wide">
      <label for=${id}>${t(label)}</label>
      <textarea id=${id} name=${name} rows=${rows} spellcheck=${false} value=${value}
        aria-invalid=${error ? 'true' : undefined} aria-describedby=${described || undefined}
        onInput=${(e: Event) => onValue((e.currentTarget as HTMLTextAreaElement).value)}></textarea>
      ${hint ? html`<p class="field-hint" id=${`${id}-hint`}>${hint}</p>` : null}
      ${error ? html`<p class="field-error" id=${`${id}-error`} role="alert">${error}</p>` : null}
    </div>`
}

export function Checkbox ({ label, checked, onChecked, name }: { label: Key, checked: boolean, onChecked: (checked: boolean) => void, name?: string }) {
  const id = useId()
  return html`
    <div class="field check">
      <input id=${id} name=${name} type="checkbox" checked=${checked} onChange=${(e: Event) => onChecked((e.currentTarget as HTMLInputElement).checked)} />
      <label for=${id}>${t(label)}</label>
    </div>`
}
