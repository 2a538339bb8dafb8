// Device certificates (seed 001): register a CA certificate, its status; the devices each CA issued, registered at
// their first connection, with status and first/last connection, searchable by serial or CN; activate,
// deactivate (its clients are disconnected and refused) and delete, each change confirmed or reported.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, seg, type Paged } from '../api'
import { t } from '../i18n'
import { useCanWrite } from '../session'
import { date } from '../format'
import { useApi } from '../components/use-api'
import { Loadable } from '../components/states'
import { DataTable, Pager } from '../components/table'
import { Input, Select } from '../components/field'
import { PemField } from '../components/pem-field'
import { PageHeader, Section } from '../components/page'
import { FilterForm, useFilters } from '../components/filters'
import { attempt, confirmed } from '../components/action'

type Status = 'active' | 'inactive'
interface Ca { serial: string, subject: string, cn: string, not_after: string, status: Status, registered_at: string }
interface Device { serial: string, subject: string, cn: string, ca_serial: string, not_after: string, status: Status, first_seen: string, last_seen: string }

const badge = (s: Status) => html`<span class=${`badge ${s === 'active' ? 'ok' : 'bad'}`}>${s === 'active' ? t('devices.active') : t('devices.inactive')}</span>`

/** Activate or deactivate (the opposite of its status), and delete: for a CA or a device. */
function actions (x: { cn: string, status: Status }, setStatus: (to: Status) => void, remove: () => void) {
  const active = x.status === 'active'
  return html`
    <button type="button" class=${`link${active ? ' danger' : ''}`} onClick=${() => setStatus(active ? 'inactive' : 'active')}
      aria-label=${t(active ? 'devices.deactivate_cn' : 'devices.activate_cn', { cn: x.cn })}>${t(active ? 'devices.deactivate' : 'devices.activate')}</button>
    <button type="button" class="link danger" onClick=${remove} aria-label=${t('devices.delete_cn', { cn: x.cn })}>${t('action.delete')}</button>`
}

export function DeviceCerts () {
  const canWrite = useCanWrite()
  const cas = useApi<Paged<Ca>>('/ca_certs', { limit: 1000 }, 10_000)
  const filters = useFilters({ ca_serial: '', like_serial: '', like_cn: '', status: '' })
  const devices = useApi<Paged<Device>>('/device_certs', { ...filters.applied, page: filters.page, limit: 50 }, 5000)
  const [pem, setPem] = useState('')
  const [status, setStatus] = useState<Status>('active')
  const reload = () => { cas.reload(); devices.reload() }

  const register = async (e: Event) => {
    e.preventDefault()
    if (await attempt(t('devices.ca_registered'), () => api('/ca_certs', { method: 'POST', body: { certificate: pem, status } }))) { setPem(''); reload() }
  }
  const setCa = (ca: Ca, to: Status) => {
    const run = () => api(`/ca_certs/${seg(ca.serial)}`, { method: 'PUT', body: { status: to } })
    const done = t(to === 'active' ? 'devices.ca_activated' : 'devices.ca_deactivated', { cn: ca.cn })
    void (to === 'active' ? attempt(done, run) : confirmed({ title: t('devices.ca_deactivate_title'), message: t('devices.ca_deactivate_message', { cn: ca.cn }), confirm: t('devices.deactivate'), done }, run)).then(reload)
  }
  const deleteCa = (ca: Ca) => void confirmed({ title: t('devices.ca_delete_title'), message: t('devices.ca_delete_message', { cn: ca.cn }), confirm: t('action.delete'), done: t('devices.ca_deleted', { cn: ca.cn }) },
    () => api(`/ca_certs/${seg(ca.serial)}`, { method: 'DELETE' })).then(reload)
  const devicePath = (d: Device) => `/device_certs/${seg(d.serial)}?ca_serial=${seg(d.ca_serial)}`
  const setDevice = (d: Device, to: Status) => {
    const run = () => api(devicePath(d), { method: 'PUT', body: { status: to } })
    const done = t(to === 'active' ? 'devices.activated' : 'devices.deactivated', { cn: d.cn })
    void (to === 'active' ? attempt(done, run) : confirmed({ title: t('devices.deactivate_title'), message: t('devices.deactivate_message', { cn: d.cn }), confirm: t('devices.deactivate'), done }, run)).then(reload)
  }
  const deleteDevice = (d: Device) => void confirmed({ title: t('devices.delete_title'), message: t('devices.delete_message', { cn: d.cn }), confirm: t('action.delete'), done: t('devices.deleted', { cn: d.cn }) },
    () => api(devicePath(d), { method: 'DELETE' })).then(reload)

  const caOptions = [{ value: '', label: t('filter.any') }, ...(cas.data?.data ?? []).map((c) => ({ value: c.serial, label: `${c.cn} (${c.serial})` }))]
  return html`
    <${PageHeader} title=${t('nav.device_certs')} />
    ${canWrite ? html`
      <${Section} title=${t('devices.register_ca')}>
        <form onSubmit=${register}>
          <${PemField} label="devices.ca_pem" name="certificate" value=${pem} onValue=${setPem} hint=${t('devices.ca_hint')} />
          <div class="filters">
            <${Select} label="devices.status" name="status" value=${status} onValue=${(v: string) => setStatus(v as Status)} options=${[{ value: 'active', label: t('devices.active') }, { value: 'inactive', label: t('devices.inactive') }]} />
            <div class="filter-actions"><button type="submit" class="primary">${t('devices.register')}</button></div>
          </div>
        </form>
      </${Section}>` : null}
    <${Section} title=${t('devices.cas')}>
      <${Loadable} state=${cas}>${(paged: Paged<Ca>) => html`
        <${DataTable} caption=${t('devices.cas')} rows=${paged.data} rowKey=${(c: Ca) => c.serial} columns=${[
          { label: 'devices.cn', value: (c: Ca) => c.cn },
          { label: 'devices.serial', value: (c: Ca) => html`<code>${c.serial}</code>` },
          { label: 'certs.subject', value: (c: Ca) => c.subject },
          { label: 'certs.not_after', value: (c: Ca) => date(c.not_after) },
          { label: 'devices.status', value: (c: Ca) => badge(c.status) },
          { label: 'devices.registered_at', value: (c: Ca) => date(c.registered_at) },
          ...(canWrite ? [{ label: 'retained.actions' as const, value: (c: Ca) => actions(c, (to) => setCa(c, to), () => deleteCa(c)) }] : []),
        ]} />`}</${Loadable}>
    </${Section}>
    <${Section} title=${t('devices.devices')}>
      <${FilterForm} label=${t('devices.search')} filters=${filters}>
        <${Select} label="devices.ca" ...${filters.field('ca_serial')} options=${caOptions} />
        <${Input} label="devices.serial" ...${filters.field('like_serial')} />
        <${Input} label="devices.cn" ...${filters.field('like_cn')} />
        <${Select} label="devices.status" ...${filters.field('status')} options=${[{ value: '', label: t('filter.any') }, { value: 'active', label: t('devices.active') }, { value: 'inactive', label: t('devices.inactive') }]} />
      </${FilterForm}>
      <${Loadable} state=${devices}>${(paged: Paged<Device>) => html`
        <${DataTable} caption=${t('devices.devices')} rows=${paged.data} rowKey=${(d: Device) => `${d.ca_serial}/${d.serial}`} columns=${[
          { label: 'devices.cn', value: (d: Device) => d.cn },
          { label: 'devices.serial', value: (d: Device) => html`<code>${d.serial}</code>` },
          { label: 'devices.ca', value: (d: Device) => html`<code>${d.ca_serial}</code>` },
          { label: 'devices.status', value: (d: Device) => badge(d.status) },
          { label: 'devices.first_seen', value: (d: Device) => date(d.first_seen) },
          { label: 'devices.last_seen', value: (d: Device) => date(d.last_seen) },
          { label: 'certs.not_after', value: (d: Device) => date(d.not_after) },
          ...(canWrite ? [{ label: 'retained.actions' as const, value: (d: Device) => actions(d, (to) => setDevice(d, to), () => deleteDevice(d)) }] : []),
        ]} />
        <${Pager} page=${filters.page} hasnext=${paged.meta.hasnext} count=${paged.meta.count} onPage=${filters.setPage} />`}</${Loadable}>
    </${Section}>`
}
