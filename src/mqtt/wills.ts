// Publishing a session's will, once its client may: the authorizePublish hooks are asked as for a
// PUBLISH of that topic, QoS and retain flag by the client as it authenticated [EMQX].
import type { Core } from './core.js'
import { runAuthorize } from './hooks.js'
import type { Session, WillMessage } from './session.js'

/** Sends the session's will if its client may publish it; a promise while an asynchronous hook decides. */
export function publishWill (core: Core, session: Session): void | Promise<void> {
  const will = session.will
  if (!will) return
  session.will = null
  const hooks = core.hooks.authorizePublish
  if (hooks.length === 0) return sendWill(core, will)
  let allowed: boolean | Promise<boolean>
  try {
    allowed = runAuthorize(hooks, will.client, will.message)
  } catch (err) {
    // deny_action = disconnect throws: the client is gone already, the will is denied all the same.
    return willRefused(core, will, err)
  }
  if (allowed === true) return sendWill(core, will)
  if (allowed === false) return willRefused(core, will, 'not authorized')
  return allowed
    .then((ok) => ok ? sendWill(core, will) : willRefused(core, will, 'not authorized'), (err: unknown) => willRefused(core, will, err))
    .catch((err: unknown) => { core.log.error({ err, client: will.client.clientId, topic: will.message.topic }, 'will message not published') })
}

function sendWill (core: Core, will: WillMessage): void {
  core.log.debug({ clientId: will.client.clientId, topic: will.message.topic }, 'publishing will')
  core.publish(will.message, null)
}

function willRefused (core: Core, will: WillMessage, why: unknown): void {
  core.metrics.messagesDropped++
  core.metrics.willsNotAuthorized++
  const reason = typeof why === 'string' ? why : `authorization failed: ${why instanceof Error ? why.message : String(why)}`
  const { topic, qos, retain } = will.message
  core.log.info({ client: will.client.clientId, username: will.client.username, topic, qos, retain, reason }, 'will message dropped: publish not authorized')
}
