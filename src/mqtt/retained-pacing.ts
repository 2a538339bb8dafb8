// retainer.delivery_rate: the retained messages one new subscription is sent, at most `amount` per period.
// As EMQX (its retainer's flow_control: batch_deliver_number = the rate's amount, batch_deliver_limiter =
// the rate, per subscriber), they go in batches: the first at once, each next one a period later.
import type { Rate } from '../config/types.js'

/** The subscriber as pacing sees it: whether it is still there, and a way to stop when it goes. */
export interface PacedSubscriber {
  readonly state: string
  onClose (fn: () => void): void
}

/**
 * Calls `deliver` for each of `messages`, `rate.amount` of them per `rate.periodMs` (all at once when the
 * rate is null, infinity). Stops when the subscriber's connection closes.
 */
export function paceRetained<T> (subscriber: PacedSubscriber, messages: T[], rate: Rate | null, deliver: (message: T) => void): void {
  if (rate === null || messages.length <= rate.amount) {
    for (const message of messages) deliver(message)
    return
  }
  let next = 0
  let timer: NodeJS.Timeout | null = null
  const batch = (): void => {
    timer = null
    if (subscriber.state === 'closed') return
    const end = Math.min(messages.length, next + rate.amount)
    for (; next < end; next++) deliver(messages[next]!)
    if (next < messages.length) timer = setTimeout(batch, rate.periodMs)
  }
  subscriber.onClose(() => { if (timer !== null) clearTimeout(timer) })
  batch()
}
