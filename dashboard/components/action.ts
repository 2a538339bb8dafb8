// A write action behind a confirmation: asks, calls the API, and reports the outcome in a toast.
import { ApiError } from '../api'
import { t } from '../i18n'
import { confirmAction } from './confirm'
import { toast } from './toast'

export async function confirmed (opts: { title: string, message: string, confirm: string, done: string }, run: () => Promise<unknown>): Promise<boolean> {
  if (!(await confirmAction(opts))) return false
  return attempt(opts.done, run)
}

/** Runs an API call; a toast says it worked or why not. */
export async function attempt (done: string, run: () => Promise<unknown>): Promise<boolean> {
  try {
    await run()
    toast(done)
    return true
  } catch (err) {
    const why = err instanceof ApiError ? `${err.code}: ${err.message}` : (err as Error).message
    toast(t('toast.failed', { why }), 'error')
    return false
  }
}
