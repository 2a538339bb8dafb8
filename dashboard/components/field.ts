// Labelled form controls: every input has a <label>, and a hint or error tied to it with aria-describedby.
import { html } from 'htm/preact'
import { useId } from 'preact/hooks'
import { t, type Key } from '../i18n'

interface FieldProps {
  label: Key
  value: string
  onValue: (value: string) => void
  type?: string
  required?: boolean
  autocomplete?: string
  error?: string
  name?: string
}

export function Input ({ label, value, onValue, type = 'text', required, autocomplete, error, name }: FieldProps) {
  const id = useId()
  return html`
    <div class="field">
      <label for=${id}>${t(label)}</label>
      <input id=${id} name=${name} type=${type} value=${value} required=${required} autocomplete=${autocomplete ?? 'off'}
        aria-invalid=${error ? 'true' : undefined} aria-describedby=${error ? `${id}-error` : undefined}
        onInput=${(e: Event) => onValue((e.currentTarget as HTMLInputElement).value)} />
      ${error ? html`<p class="field-error" id=${`${id}-error`}>${error}</p>` : null}
    </div>`
}

export function Select ({ label, value, onValue, options, name }: Omit<FieldProps, 'type'> & { options: { value: string, label: string }[] }) {
  const id = useId()
  return html`
    <div class="field">
      <label for=${id}>${t(label)}</label>
      <select id=${id} name=${name} value=${value} onChange=${(e: Event) => onValue((e.currentTarget as HTMLSelectElement).value)}>
        ${options.map((o) => html`<option value=${o.value}>${o.label}</option>`)}
      </select>
    </div>`
}

/** Label/value pairs (a details view). */
export function Facts ({ rows }: { rows: [Key, unknown][] }) {
  return html`<dl class="facts">${rows.map(([label, value]) => html`<div><dt>${t(label)}</dt><dd>${value === null || value === undefined || value === '' ? '—' : value}</dd></div>`)}</dl>`
}
