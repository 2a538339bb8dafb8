// Move up / move down buttons for an ordered list (authenticators, authorization sources): keyboard-usable
// reordering. After a move the list reloads and the focus goes back to the same button of the moved row.
import { html } from 'htm/preact'
import { useEffect, useRef } from 'preact/hooks'
import { t } from '../i18n'

/** `ids` with the one at `index` swapped with its neighbour (`by` = -1 up, +1 down). */
export function moved (ids: string[], index: number, by: -1 | 1): string[] {
  const next = [...ids]
  const other = index + by
  ;[next[index], next[other]] = [next[other]!, next[index]!]
  return next
}

/**
 * A hook: focus(name, dir) after the data changes puts the focus on that row's move button, or on its other one
 * when that one is now disabled (the row reached the top or the bottom).
 */
export function useRefocus (data: unknown): (name: string, dir: 'up' | 'down') => void {
  const pending = useRef<{ name: string, dir: 'up' | 'down' } | null>(null)
  useEffect(() => {
    const want = pending.current
    if (want === null) return
    const buttons = [...document.querySelectorAll<HTMLButtonElement>('button[data-focus-key]')]
    const pick = (dir: string) => buttons.find((e) => e.dataset.focusKey === `${dir}\n${want.name}` && !e.disabled)
    const el = pick(want.dir) ?? pick(want.dir === 'up' ? 'down' : 'up')
    if (el) { el.focus(); pending.current = null }
  }, [data])
  return (name, dir) => { pending.current = { name, dir } }
}

export function MoveButtons ({ name, index, count, onMove }: { name: string, index: number, count: number, onMove: (by: -1 | 1) => void }) {
  return html`
    <button type="button" class="link" data-focus-key=${`up\n${name}`} disabled=${index === 0} onClick=${() => onMove(-1)} aria-label=${t('order.up_named', { name })}>${t('order.up')}</button>
    <button type="button" class="link" data-focus-key=${`down\n${name}`} disabled=${index === count - 1} onClick=${() => onMove(1)} aria-label=${t('order.down_named', { name })}>${t('order.down')}</button>`
}
