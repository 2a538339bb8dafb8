// The pages of the sidebar, in order. A new page: a file under pages/ and one line here (its route, its
// dictionary key, its component). The component gets the route segments after its own (#/clients/<id>).
import type { FunctionComponent } from 'preact'
import type { Key } from './i18n'
import { Overview } from './pages/overview'
import { Clients } from './pages/clients'
import { Subscriptions } from './pages/subscriptions'
import { RetainedMessages } from './pages/retained'
import { Banned } from './pages/banned'
import { Metrics } from './pages/metrics'
import { Authentication } from './pages/authentication'
import { Authorization } from './pages/authorization'
import { Users } from './pages/users'
import { Listeners } from './pages/listeners'
import { Certificates } from './pages/certificates'
import { DeviceCerts } from './pages/device-certs'

export interface PageDef {
  path: string
  title: Key
  component: FunctionComponent<{ route: string[] }>
}

export const PAGES: PageDef[] = [
  { path: 'overview', title: 'nav.overview', component: Overview },
  { path: 'clients', title: 'nav.clients', component: Clients },
  { path: 'subscriptions', title: 'nav.subscriptions', component: Subscriptions },
  { path: 'retained', title: 'nav.retained', component: RetainedMessages },
  { path: 'listeners', title: 'nav.listeners', component: Listeners },
  { path: 'certificates', title: 'nav.certificates', component: Certificates },
  { path: 'device-certs', title: 'nav.device_certs', component: DeviceCerts },
  { path: 'authentication', title: 'nav.authentication', component: Authentication },
  { path: 'authorization', title: 'nav.authorization', component: Authorization },
  { path: 'banned', title: 'nav.banned', component: Banned },
  { path: 'users', title: 'nav.users', component: Users },
  { path: 'metrics', title: 'nav.metrics', component: Metrics },
]
