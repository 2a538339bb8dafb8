// Certificates: the managed bundles (every namespace) with their leaf's subject, SANs, issuer and end, and the
// listeners (SNI names) serving them; upload or replace a bundle, seed 000's rules checked in the browser where
// they can be and the server's refusal shown next to the field it names; delete, confirmed with the listeners and
// connected clients it affects.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, ApiError, seg } from '../api'
import { t, type Key } from '../i18n'
import { en } from '../i18n/en'
import { useCanWrite } from '../session'
import { date } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable } from '../components/table'
import { Input } from '../components/field'
import { PemField } from '../components/pem-field'
import { PageHeader, Section } from '../components/page'
import { confirmed } from '../components/action'
import { toast } from '../components/toast'
import { checkUpload, type BundleField, type RuleFailure } from '../pem-rules'
import { DaysLeft } from './listeners'

interface CertFacts { subject: string, issuer: string, sans: string[], not_after: string, days_left: number, expired: boolean }
interface Use { listener: string, sni: string | null, running: boolean, connections: number }
interface Bundle { namespace: string, name: string, files: string[], leaf: CertFacts | null, ends_first: CertFacts | null, ca: CertFacts[], used_by: Use[] }

const EMPTY = { namespace: 'global', name: '', chain: '', key: '', ca: '', key_password: '' }
type Form = typeof EMPTY
type Errors = Partial<Record<BundleField, string>>

const known = (key: string): key is Key => key in en
/** A failed rule in words: what the rule asks, then what was wrong (from the browser's check or the server). */
function explain (f: RuleFailure, server?: string): string {
  const rule = `certs.rule.${f.rule}`
  const detail = f.detail ? `certs.pem.${f.detail}` : ''
  return [known(rule) ? t(rule) : f.rule, known(detail) ? t(detail) : '', server ?? ''].filter(Boolean).join(' ')
}

const usersOf = (b: Bundle) => b.used_by.map((u) => u.sni ? `${u.listener} (SNI ${u.sni})` : u.listener).join(', ')
const path = (namespace: string, name: string) => namespace === '' || namespace === 'global' ? `/certs/global/name/${seg(name)}` : `/certs/ns/${seg(namespace)}/name/${seg(name)}`

export function Certificates () {
  const canWrite = useCanWrite()
  const bundles = useApi<{ data: Bundle[] }>('/certs/bundles', undefined, 10_000)
  const [form, setForm] = useState<Form>(EMPTY)
  const [errors, setErrors] = useState<Errors>({})
  const [replacing, setReplacing] = useState(false)
  const set = (field: keyof Form) => (value: string) => { setForm((f) => ({ ...f, [field]: value })); setErrors((e) => ({ ...e, [field]: undefined })) }

  const upload = async (e: Event) => {
    e.preventDefault()
    const local = checkUpload(form)
    const found = Object.entries(local).map(([field, f]) => [field, explain(f)])
    if (found.length > 0) {
      setErrors(Object.fromEntries(found) as Errors)
      toast(t('certs.check_failed'), 'error')
      return
    }
    const body: Record<string, string> = {}
    for (const f of ['chain', 'key', 'ca', 'key_password'] as const) if (form[f].trim() !== '') body[f] = form[f]
    try {
      await api(path(form.namespace, form.name), { method: 'POST', body })
      toast(t('certs.uploaded', { name: form.name }))
      setForm(EMPTY)
      setErrors({})
      setReplacing(false)
      bundles.reload()
    } catch (err) {
      const field = err instanceof ApiError && typeof err.details.field === 'string' ? err.details.field as BundleField : undefined
      const rule = err instanceof ApiError && typeof err.details.rule === 'string' ? err.details.rule : undefined
      const why = err instanceof ApiError ? err.message.replace(/^rule [a-z0-9_]+: /, '') : (err as Error).message
      if (field && rule) setErrors({ [field]: explain({ rule }, why) })
      toast(t('toast.failed', { why: err instanceof ApiError ? `${err.code}: ${err.message}` : why }), 'error')
    }
  }

  const replace = (b: Bundle) => {
    setForm({ ...EMPTY, namespace: b.namespace, name: b.name })
    setErrors({})
    setReplacing(true)
    document.getElementById('bundle-form')?.scrollIntoView()
  }

  const remove = async (listed: Bundle) => {
    // Fresh figures: the confirmation tells how many clients are connected now.
    const now = await api<{ data: Bundle[] }>('/certs/bundles').catch(() => undefined)
    const b = now?.data.find((x) => x.namespace === listed.namespace && x.name === listed.name) ?? listed
    const clients = b.used_by.reduce((n, u) => n + u.connections, 0)
    const message = b.used_by.length === 0 ? t('certs.delete_unused', { name: b.name }) : t('certs.delete_used', { name: b.name, listeners: usersOf(b), count: clients })
    void confirmed({ title: t('certs.delete_title', { name: b.name }), message, confirm: t('action.delete'), done: t('certs.deleted', { name: b.name }) },
      () => api(path(b.namespace, b.name), { method: 'DELETE' })).then((ok) => { if (ok) bundles.reload() })
  }

  return html`
    <${PageHeader} title=${t('nav.certificates')} />
    ${canWrite ? html`
      <${Section} title=${replacing ? t('certs.replace_title', { name: form.name }) : t('certs.upload_title')}>
        <form id="bundle-form" class="bundle-form" onSubmit=${upload} novalidate>
          <p class="note">${t('certs.rules_intro')}</p>
          <div class="filters">
            <${Input} label="certs.namespace" name="namespace" value=${form.namespace} onValue=${set('namespace')} error=${errors.namespace} />
            <${Input} label="certs.name" name="name" value=${form.name} onValue=${set('name')} error=${errors.name} required />
          </div>
          <${PemField} label="certs.chain" name="chain" value=${form.chain} onValue=${set('chain')} error=${errors.chain} hint=${t('certs.chain_hint')} />
          <${PemField} label="certs.key" name="key" value=${form.key} onValue=${set('key')} error=${errors.key} hint=${t('certs.key_hint')} />
          <${Input} label="certs.key_password" name="key_password" type="password" value=${form.key_password} onValue=${set('key_password')} error=${errors.key_password} />
          <${PemField} label="certs.ca" name="ca" value=${form.ca} onValue=${set('ca')} error=${errors.ca} hint=${t('certs.ca_hint')} />
          <div class="filter-actions">
            <button type="submit" class="primary">${replacing ? t('certs.replace') : t('certs.upload')}</button>
            ${replacing ? html`<button type="button" onClick=${() => { setForm(EMPTY); setErrors({}); setReplacing(false) }}>${t('action.cancel')}</button>` : null}
          </div>
        </form>
      </${Section}>` : null}
    <${Section} title=${t('certs.bundles')}>
      <${Loadable} state=${bundles}>${({ data }: { data: Bundle[] }) => html`
        <${DataTable} caption=${t('certs.bundles')} rows=${data} rowKey=${(b: Bundle) => `${b.namespace}/${b.name}`} columns=${[
          { label: 'certs.bundle', value: (b: Bundle) => `${b.namespace}/${b.name}` },
          { label: 'certs.subject', value: (b: Bundle) => b.leaf?.subject ?? '—' },
          { label: 'certs.sans', value: (b: Bundle) => b.leaf?.sans.join(', ') || '—' },
          { label: 'certs.issuer', value: (b: Bundle) => b.leaf?.issuer ?? '—' },
          { label: 'certs.not_after', value: (b: Bundle) => b.ends_first ? html`${date(b.ends_first.not_after)} <${DaysLeft} cert=${b.ends_first} />` : '—' },
          { label: 'certs.files', value: (b: Bundle) => b.files.join(', ') },
          { label: 'certs.used_by', value: (b: Bundle) => usersOf(b) || t('certs.unused') },
          ...(canWrite ? [{ label: 'retained.actions' as const, value: (b: Bundle) => html`
            <button type="button" class="link" onClick=${() => replace(b)} aria-label=${t('certs.replace_name', { name: b.name })}>${t('certs.replace')}</button>
            <button type="button" class="link danger" onClick=${() => { void remove(b) }} aria-label=${t('certs.delete_name', { name: b.name })}>${t('action.delete')}</button>` }] : []),
        ]} />`}</${Loadable}>
    </${Section}>`
}
