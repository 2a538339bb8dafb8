// The shell: header (node, language, user, logout), sidebar navigation, the current page, toasts and the
// confirmation dialog. Without a session every route shows the login page.
import { h } from 'preact'
import { html } from 'htm/preact'
import { useEffect, useRef } from 'preact/hooks'
import { api } from './api'
import { lang, t } from './i18n'
import { PAGES } from './pages'
import { href, navigate, useRoute } from './router'
import { session, signOut } from './session'
import { useApi } from './components/use-api'
import { Toasts } from './components/toast'
import { ConfirmHost } from './components/confirm'
import { LangSwitch } from './components/lang-switch'
import { Login } from './pages/login'

export function App () {
  const user = session.use()
  lang.use()
  const route = useRoute()
  useEffect(() => {
    if (user && (route[0] === 'login' || route.length === 0)) navigate('overview')
  }, [user, route[0]])
  return html`
    ${user ? html`<${Shell} route=${route} />` : html`<${Login} />`}
    <${Toasts} />
    <${ConfirmHost} />`
}

function Shell ({ route }: { route: string[] }) {
  const user = session.use()!
  const nodes = useApi<{ node: string, version: string | null }[]>('/nodes')
  const page = PAGES.find((p) => p.path === route[0]) ?? PAGES[0]!
  const main = useRef<HTMLElement>(null)
  // A new page moves the focus to its content, as a page load would, so keyboard and screen reader users start there.
  useEffect(() => { main.current?.focus({ preventScroll: true }) }, [page.path])
  const logout = async () => {
    try { await api('/logout', { method: 'POST', body: { username: user.username } }) } catch { /* the session ends here anyway */ }
    signOut()
    navigate('login')
  }
  const node = nodes.data?.[0]
  return html`
    <div class="shell">
      <header class="topbar">
        <a class="brand" href=${href('overview')}>Culex</a>
        <span class="node" title=${t('header.node')}>${node ? `${node.node}${node.version ? ` · ${node.version}` : ''}` : ''}</span>
        <span class="spacer"></span>
        <${LangSwitch} />
        <span class="user">${user.username} (${user.role === 'viewer' ? t('role.viewer') : t('role.administrator')})</span>
        <button type="button" onClick=${logout}>${t('header.logout')}</button>
      </header>
      <nav class="sidebar" aria-label=${t('nav.label')}>
        <ul>${PAGES.map((p) => html`<li><a href=${href(p.path)} aria-current=${p === page ? 'page' : undefined}>${t(p.title)}</a></li>`)}</ul>
      </nav>
      <main id="main" ref=${main} tabindex="-1">${h(page.component, { key: page.path, route: route.slice(1) })}</main>
    </div>`
}
