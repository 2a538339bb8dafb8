// Login, and the password change EMQX asks for at the first login with the default password.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, ApiError, seg } from '../api'
import { signIn, type Role } from '../session'
import { navigate } from '../router'
import { t } from '../i18n'
import { Input } from '../components/field'
import { LangSwitch } from '../components/lang-switch'

interface LoginReply { token: string, role?: Role, version?: string, password_change_required?: boolean }

const login = (username: string, password: string) => api<LoginReply>('/login', { method: 'POST', body: { username, password } })

export function Login () {
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const [change, setChange] = useState<LoginReply | null>(null)

  const finish = (reply: LoginReply, user: string) => {
    signIn({ token: reply.token, username: user, role: reply.role === 'viewer' ? 'viewer' : 'administrator', version: reply.version })
    navigate('overview')
  }

  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError('')
    try {
      const reply = await login(username, password)
      if (reply.password_change_required) setChange(reply)
      else finish(reply, username)
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t('login.bad') : t('toast.failed', { why: (err as Error).message }))
    } finally {
      setBusy(false)
    }
  }

  if (change) return html`<${ChangePassword} username=${username} oldPassword=${password} token=${change.token} onDone=${(newPassword: string) => login(username, newPassword).then((r) => finish(r, username))} />`
  return html`
    <main class="login" id="main">
      <div class="login-lang"><${LangSwitch} /></div>
      <form class="card" onSubmit=${submit} aria-labelledby="login-title">
        <h1 id="login-title">${t('login.title')}</h1>
        <${Input} label="login.username" name="username" value=${username} onValue=${setUsername} required autocomplete="username" />
        <${Input} label="login.password" name="password" type="password" value=${password} onValue=${setPassword} required autocomplete="current-password" />
        ${error ? html`<p class="note error" role="alert">${error}</p>` : null}
        <button type="submit" class="primary" disabled=${busy}>${t('login.submit')}</button>
      </form>
    </main>`
}

function ChangePassword ({ username, oldPassword, token, onDone }: { username: string, oldPassword: string, token: string, onDone: (pw: string) => Promise<void> }) {
  const [next, setNext] = useState('')
  const [again, setAgain] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const tooShort = next !== '' && next.length < 8
  const mismatch = again !== '' && again !== next

  const submit = async (e: Event) => {
    e.preventDefault()
    if (tooShort || mismatch || next === '') return
    setBusy(true)
    setError('')
    try {
      await api(`/users/${seg(username)}/change_pwd`, { method: 'POST', body: { old_pwd: oldPassword, new_pwd: next }, token })
      await onDone(next)
    } catch (err) {
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : (err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return html`
    <main class="login" id="main">
      <form class="card" onSubmit=${submit} aria-labelledby="change-title">
        <h1 id="change-title">${t('password.title')}</h1>
        <p>${t('password.required')}</p>
        <${Input} label="password.new" name="new_pwd" type="password" value=${next} onValue=${setNext} required autocomplete="new-password" error=${tooShort ? t('password.short') : undefined} />
        <${Input} label="password.again" name="new_pwd_again" type="password" value=${again} onValue=${setAgain} required autocomplete="new-password" error=${mismatch ? t('password.mismatch') : undefined} />
        ${error ? html`<p class="note error" role="alert">${error}</p>` : null}
        <button type="submit" class="primary" disabled=${busy}>${t('password.submit')}</button>
      </form>
    </main>`
}
