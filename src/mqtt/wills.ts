// Publishing a session's will, once its client may: the authorizePublish hooks are asked as for a
// PUBLISH of that topic, QoS and retain flag by the client as it authenticated [EMQX].
import type { Log } from '../log.js'
import { runAuthorize, type AuthzDecision, type ClientInfo, type Hooks } from './hooks.js'
import type { Message } from './message.js'
import type { Metrics } from './metrics.js'
import type { Session, WillMessage } from './session.js'

/** What sending a will needs: the authorization hooks, and the broker's publish. */
export interface WillContext {
  readonly hooks: Hooks
  readonly log: Log
  readonly metrics: Metrics
  publish (message: Message, client: ClientInfo | null): void
}

/** Sends the session's will if its client may publish it; a promise while an asynchronous hook decides. */
export function publishWill (ctx: WillContext, session: Session): void | Promise<void> {
  const will = session.will
  if (!will) return
  session.will = null
  const hooks = ctx.hooks.authorizePublish
  if (hooks.length === 0) return sendWill(ctx, will)
  let allowed: AuthzDecision | Promise<AuthzDecision>
  try {
    allowed = runAuthorize(hooks, will.client, will.message)
  } catch (err) {
    return willRefused(ctx, will, err)
  }
  if (!(allowed instanceof Promise)) return willDecided(ctx, will, allowed)
  return allowed
    .then((answer) => willDecided(ctx, will, answer), (err: unknown) => willRefused(ctx, will, err))
    .catch((err: unknown) => { ctx.log.error({ err, client: will.client.clientId, topic: will.message.topic }, 'will message not published') })
}

function willDecided (ctx: WillContext, will: WillMessage, allowed: AuthzDecision): void {
  if (allowed === true) return sendWill(ctx, will)
  // deny_action = disconnect: the client is gone already, the will is denied all the same.
  if (allowed === 'disconnect') return willRefused(ctx, will, `authorization failed: not authorized to publish ${JSON.stringify(will.message.topic)}`)
  willRefused(ctx, will, 'not authorized')
}

function sendWill (ctx: WillContext, will: WillMessage): void {
  ctx.log.debug({ clientId: will.client.clientId, topic: will.message.topic }, 'publishing will')
  ctx.publish(will.message, null)
}

function willRefused (ctx: WillContext, will: WillMessage, why: unknown): void {
  ctx.metrics.messagesDropped++
  ctx.metrics.willsNotAuthorized++
  const reason = typeof why === 'string' ? why : `authorization failed: ${why instanceof Error ? why.message : String(why)}`
  const { topic, qos, retain } = will.message
  ctx.log.info({ client: will.client.clientId, username: will.client.username, topic, qos, retain, reason }, 'will message dropped: publish not authorized')
}
