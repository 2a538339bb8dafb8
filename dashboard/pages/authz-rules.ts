// The built-in database's authorization rules: per user name, per client id, and for all clients. A rule is
// added to an owner's list (created if it has none); an owner's rules, or one rule, can be removed.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, ApiError, seg, type Paged } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input, Select } from '../components/field'
import { Section } from '../components/page'
import { attempt, confirmed } from '../components/action'

interface Rule { permission: string, action: string, topic: string, qos?: number[], retain?: boolean | string }
interface Owned { name: string, rules: Rule[] }
type Kind = 'users' | 'clients' | 'all'

const BASE = '/authorization/sources/built_in_database/rules'
const OWNER = { users: 'username', clients: 'clientid' } as const
const NEW = { name: '', permission: 'deny', action: 'publish', topic: '' }
const opts = (values: string[]) => values.map((v) => ({ value: v, label: v }))

const ruleText = (r: Rule) => `${r.permission} ${r.action} ${r.topic}${r.qos && r.qos.length < 3 ? ` qos ${r.qos.join(',')}` : ''}`

export function AuthzRules () {
  const canWrite = useCanWrite()
  const [kind, setKind] = useState<Kind>('users')
  const [page, setPage] = useState(1)
  const [form, setForm] = useState(NEW)
  const list = useApi<Paged<Record<string, unknown>> | { rules: Rule[] }>(`${BASE}/${kind}`, kind === 'all' ? undefined : { page, limit: 50 })
  // While another kind loads, the last answer may still be the other shape: show nothing from it.
  const data = list.data
  const owned: Owned[] = !data ? [] : 'data' in data
    ? (kind === 'all' ? [] : data.data.map((e) => ({ name: String(e[OWNER[kind]]), rules: (e.rules ?? []) as Rule[] })))
    : (kind === 'all' ? [{ name: t('rules.everyone'), rules: data.rules }] : [])
  const pathOf = (name: string) => kind === 'all' ? `${BASE}/all` : `${BASE}/${kind}/${seg(name)}`
  const write = (name: string, rules: Rule[]) => kind === 'all'
    ? api(`${BASE}/all`, { method: 'POST', body: { rules } })
    : api(pathOf(name), { method: 'PUT', body: { [OWNER[kind]]: name, rules } })
  const add = async (e: Event) => {
    e.preventDefault()
    const rule = { permission: form.permission, action: form.action, topic: form.topic }
    const ok = await attempt(t('rules.added', { rule: ruleText(rule) }), async () => {
      let current: Rule[] = []
      try {
        current = (await api<{ rules: Rule[] }>(pathOf(form.name))).rules
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err
      }
      await write(form.name, [...current, rule])
    })
    if (ok) { setForm({ ...NEW, name: form.name }); list.reload() }
  }
  const removeRule = (o: Owned, index: number) => confirmed({
    title: t('rules.delete_title'), message: ruleText(o.rules[index]!), confirm: t('action.delete'), done: t('rules.deleted'),
  }, () => write(o.name, o.rules.filter((_, i) => i !== index))).then((ok) => { if (ok) list.reload() })
  const removeOwner = (o: Owned) => confirmed({
    title: t('rules.delete_owner_title'), message: t('rules.delete_owner_message', { name: o.name }), confirm: t('action.delete'), done: t('rules.deleted'),
  }, () => api(pathOf(o.name), { method: 'DELETE' })).then((ok) => { if (ok) list.reload() })
  return html`
    <${Section} title=${t('rules.title')}>
      <div class="filters">
        <${Select} label="rules.kind" name="rules_kind" value=${kind} onValue=${(v: string) => { setKind(v as Kind); setPage(1) }}
          options=${[{ value: 'users', label: t('rules.users') }, { value: 'clients', label: t('rules.clients') }, { value: 'all', label: t('rules.all') }]} />
      </div>
      ${canWrite ? html`
        <form class="filters" onSubmit=${add} aria-label=${t('rules.add')}>
          ${kind === 'all' ? null : html`<${Input} label=${kind === 'users' ? 'rules.username' : 'rules.clientid'} name="owner" value=${form.name} onValue=${(v: string) => setForm({ ...form, name: v })} required />`}
          <${Select} label="rules.permission" name="permission" value=${form.permission} onValue=${(v: string) => setForm({ ...form, permission: v })} options=${opts(['allow', 'deny'])} />
          <${Select} label="rules.action" name="action" value=${form.action} onValue=${(v: string) => setForm({ ...form, action: v })} options=${opts(['publish', 'subscribe', 'all'])} />
          <${Input} label="rules.topic" name="topic" value=${form.topic} onValue=${(v: string) => setForm({ ...form, topic: v })} required />
          <div class="filter-actions"><button type="submit" class="primary">${t('rules.add')}</button></div>
        </form>` : null}
      <${Loadable} state=${list}>${() => html`
        <${DataTable} caption=${t('rules.title')} rows=${owned.filter((o) => o.rules.length > 0)} rowKey=${(o: Owned) => o.name} columns=${[
          { label: kind === 'users' ? 'rules.username' : kind === 'clients' ? 'rules.clientid' : 'rules.kind', value: (o: Owned) => o.name },
          { label: 'rules.rules', value: (o: Owned) => html`<ol class="rules">${o.rules.map((r, i) => html`<li><code>${ruleText(r)}</code>
            ${canWrite ? html` <button type="button" class="link danger" onClick=${() => removeRule(o, i)} aria-label=${t('rules.delete_named', { rule: ruleText(r), name: o.name })}>${t('action.delete')}</button>` : null}</li>`)}</ol>` },
          ...(canWrite && kind !== 'all' ? [{ label: 'retained.actions' as const, value: (o: Owned) => html`<button type="button" class="link danger" onClick=${() => removeOwner(o)} aria-label=${t('rules.delete_owner_named', { name: o.name })}>${t('rules.delete_owner')}</button>` }] : []),
        ]} />
        ${list.data && 'meta' in list.data ? html`<${Pager} page=${page} hasnext=${list.data.meta.hasnext} count=${list.data.meta.count} onPage=${setPage} />` : null}`}</${Loadable}>
    </${Section}>`
}
