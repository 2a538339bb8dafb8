// The heading every page starts with (and the document title), with room for the page's actions.
import type { ComponentChildren } from 'preact'
import { html } from 'htm/preact'
import { useEffect } from 'preact/hooks'

export function PageHeader ({ title, children }: { title: string, children?: ComponentChildren }) {
  useEffect(() => { document.title = `${title} · Culex` }, [title])
  return html`<div class="page-header"><h1>${title}</h1>${children ? html`<div class="actions">${children}</div>` : null}</div>`
}

export function Section ({ title, children }: { title: string, children: ComponentChildren }) {
  return html`<section class="card"><h2>${title}</h2>${children}</section>`
}
