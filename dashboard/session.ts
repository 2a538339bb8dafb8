// The signed-in user. The token lives in sessionStorage: gone with the tab, never sent by the browser on its own
// (no cookie, so no CSRF), and not shared with other tabs or kept on disk as localStorage would.
import { createStore } from './store'

export type Role = 'administrator' | 'viewer'

export interface Session {
  token: string
  username: string
  role: Role
  version?: string
}

const KEY = 'culex.session'

function read (): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY)
    const parsed = raw ? JSON.parse(raw) as Partial<Session> : null
    return parsed && typeof parsed.token === 'string' && typeof parsed.username === 'string'
      ? { token: parsed.token, username: parsed.username, role: parsed.role === 'viewer' ? 'viewer' : 'administrator', version: parsed.version }
      : null
  } catch {
    return null
  }
}

export const session = createStore<Session | null>(read())

export function signIn (value: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(value))
  session.set(value)
}

export function signOut (): void {
  sessionStorage.removeItem(KEY)
  session.set(null)
}

/** Whether the user may change things; the viewer role sees no write control (the server refuses them anyway). */
export function useCanWrite (): boolean {
  return session.use()?.role === 'administrator'
}
