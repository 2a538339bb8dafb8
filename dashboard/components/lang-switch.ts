import { html } from 'htm/preact'
import { useId } from 'preact/hooks'
import { lang, setLang, t, type Lang } from '../i18n'

export function LangSwitch () {
  const current = lang.use()
  const id = useId()
  return html`
    <span class="lang">
      <label for=${id}>${t('header.language')}</label>
      <select id=${id} value=${current} onChange=${(e: Event) => setLang((e.currentTarget as HTMLSelectElement).value as Lang)}>
        <option value="en" lang="en">English</option>
        <option value="ja" lang="ja">日本語</option>
      </select>
    </span>`
}
