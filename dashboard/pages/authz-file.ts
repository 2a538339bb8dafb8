// The file source's acl.conf editor: the rules as text, saved through PUT /authorization/sources/file. The
// server checks the text and refuses one with an error, naming its line; the message is shown next to the
// editor, the text stays as typed, and the rules in force stay as they were.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, ApiError } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { TextArea } from '../components/form-extra'
import { Section } from '../components/page'
import { toast } from '../components/toast'
import type { Source } from './authorization'

export function AclEditor ({ source, onSaved }: { source: Source, onSaved: () => void }) {
  const canWrite = useCanWrite()
  const [rules, setRules] = useState(String(source.rules ?? ''))
  const [error, setError] = useState<string | undefined>(undefined)
  const save = async (e: Event) => {
    e.preventDefault()
    try {
      await api('/authorization/sources/file', { method: 'PUT', body: { type: 'file', enable: source.enable, rules } })
      setError(undefined)
      toast(t('acl.saved'))
      onSaved()
    } catch (err) {
      setError(t('acl.refused', { why: err instanceof ApiError ? err.message : (err as Error).message }))
    }
  }
  return html`
    <${Section} title=${t('acl.title')}>
      ${canWrite ? html`
        <form onSubmit=${save} aria-label=${t('acl.title')}>
          <${TextArea} label="acl.rules" name="rules" rows=${12} value=${rules} onValue=${setRules} error=${error} hint=${t('acl.hint')} />
          <div class="filter-actions"><button type="submit" class="primary">${t('acl.save')}</button>
            <button type="button" onClick=${() => { setRules(String(source.rules ?? '')); setError(undefined) }}>${t('acl.revert')}</button></div>
        </form>`
        : html`<pre class="payload" aria-label=${t('acl.rules')}>${String(source.rules ?? '')}</pre>`}
    </${Section}>`
}
