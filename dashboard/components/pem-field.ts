// A labelled PEM text area, filled by typing/pasting or from a file the user picks; an error (a failed import
// rule) is tied to it with aria-describedby.
import { html } from 'htm/preact'
import { useId } from 'preact/hooks'
import { t, type Key } from '../i18n'
import './pem-field.css'

interface PemFieldProps {
  label: Key
  name: string
  value: string
  onValue: (value: string) => void
  error?: string | undefined
  hint?: string
}

export function PemField ({ label, name, value, onValue, error, hint }: PemFieldProps) {
  const id = useId()
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ')
  const load = async (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0]
    if (file) onValue(await file.text())
  }
  return html`
    <div class="field pem">
      <label for=${id}>${t(label)}</label>
      <textarea id=${id} name=${name} rows="5" spellcheck="false" value=${value}
        aria-invalid=${error ? 'true' : undefined} aria-describedby=${described || undefined}
        onInput=${(e: Event) => onValue((e.currentTarget as HTMLTextAreaElement).value)}></textarea>
      ${hint ? html`<p class="field-hint" id=${`${id}-hint`}>${hint}</p>` : null}
      <label class="file-pick">${t('certs.from_file', { field: t(label) })} <input type="file" accept=".pem,.crt,.cer,.key,text/plain" onChange=${load} /></label>
      ${error ? html`<p class="field-error" id=${`${id}-error`} role="alert">${error}</p>` : null}
    </div>`
}
