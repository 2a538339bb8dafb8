// Named hook stages: the seam where authentication, authorization and observers plug in.
// Each stage is an array; an empty stage costs one length check on the hot path.
import type { Message } from './message.js'
import type { PeerCertificate, TlsInfo } from './tls-info.js'

export interface ClientInfo {
  clientId: string
  username: string | undefined
  protocolVersion: 3 | 4 | 5
  /** `tcp:default`, `ws:default`, ... */
  listener: string
  remoteAddress: string
  remotePort: number
  connectedAt: number
  isSuperuser: boolean
  /** The listener mountpoint with its placeholders expanded, once connected (EMQX clientinfo.mountpoint). */
  mountpoint?: string
  /** Attributes set by authenticators (EMQX client_attrs). */
  attrs: Record<string, string>
  /** TLS parameters for ssl and wss connections. */
  tls: TlsInfo | undefined
  /** The verified client certificate, when the client sent one. */
  cert: PeerCertificate | undefined
  /** ACL rules from the client's token, if its authenticator gave any. */
  acl?: TokenAcl
  /** When the token behind `acl` expires (epoch ms). */
  aclExpireAt?: number
  /** Id of the authenticator that accepted the client (`jwt`, `password_based:built_in_database`). */
  authenticator?: string
  /** When the credentials the client was accepted with expire (epoch ms; a JWT's exp). */
  expireAt?: number
}

/**
 * EMQX token ACLs, both formats: the old `{ pub, sub, all }` topic lists (a whitelist), and the new list
 * of `{ permission, action, topic, qos?, retain? }` rules.
 */
export type TokenAcl =
  | { format: 'lists', pub: string[], sub: string[], all: string[] }
  | { format: 'rules', rules: TokenAclRule[] }

export interface TokenAclRule {
  permission: 'allow' | 'deny'
  action: 'publish' | 'subscribe' | 'all'
  topic: string
  qos?: number[]
  retain?: boolean | 'all'
}

export interface Credentials {
  username: string | undefined
  password: Buffer | undefined
}

/** EMQX's three outcomes: ok decides yes, deny decides no, ignore asks the next authenticator. */
export type AuthResult =
  | {
    result: 'ok'
    isSuperuser?: boolean
    attrs?: Record<string, string>
    /** ACL carried in a token (JWT acl_claim_name), checked before the authorization sources. */
    acl?: TokenAcl
    /** Epoch ms when the credentials expire (JWT exp, with disconnect_after_expire). */
    expireAt?: number
    /** Epoch ms after which the token's ACL no longer applies and cached decisions are made again (JWT exp). */
    aclExpireAt?: number
    /** Id of the authenticator that accepted the client: the chain names it. */
    authenticator?: string
  }
  | {
    result: 'deny', reasonCode?: number, reason?: string
    /** which authenticator decided, and why in more words than the client is told: for the log only */
    authenticator?: string, detail?: string
  }
  /**
   * `reason`: why this authenticator could not decide, for the refusal's log line when none decides;
   * `failed`: because its backend failed (unreachable, timed out, answered an error), not because it does not know the client.
   */
  | { result: 'ignore', reason?: string, failed?: boolean }

/** One round of MQTT 5 enhanced authentication (spec 4.12): continue with AUTH 0x18, or decide. */
export type EnhancedAuthStep =
  | { result: 'continue', data: Buffer }
  | { result: 'ok', data?: Buffer, isSuperuser?: boolean, /** the user the exchange proved (SCRAM n=); it becomes the user name */ username?: string }
  | Extract<AuthResult, { result: 'deny' }>

/** The server side of one enhanced authentication exchange: fed CONNECT's, then each AUTH's, Authentication Data. */
export interface EnhancedAuthExchange {
  step (data: Buffer | undefined): EnhancedAuthStep | Promise<EnhancedAuthStep>
}

export interface SubscribeRequest { topic: string; qos: 0 | 1 | 2 }

/** What CONNECT settled for a connection, as the connected and disconnected observers see it (EMQX conninfo). */
export interface ConnInfo {
  /** `MQTT` (3.1.1, 5) or `MQIsdp` (3.1). */
  protoName: string
  /** Seconds; 0 = none. */
  keepalive: number
  cleanStart: boolean
  /** Session Expiry Interval in seconds. */
  expiryInterval: number
  /** The client's Receive Maximum as the broker applies it. */
  receiveMaximum: number
  /** The listener's port the client reached; 0 when not known. */
  sockPort: number
}

/** A subscription as granted (the filter with the mountpoint, `$share/group/...` kept). */
export interface SubscribedInfo { topic: string, qos: number, nl: boolean, rap: boolean, rh: number }

export type Awaitable<T> = T | Promise<T>

export interface HookMap {
  /** Decides CONNECT. With no hook, clients are anonymous and allowed. */
  authenticate: (client: ClientInfo, credentials: Credentials) => Awaitable<AuthResult>
  /** true/'allow' allows, false/'deny' denies, undefined/'ignore' asks the next hook; all ignore = allow. Also asked for wills. */
  authorizePublish: (client: ClientInfo, message: Message) => Awaitable<AuthzAnswer>
  authorizeSubscribe: (client: ClientInfo, request: SubscribeRequest) => Awaitable<AuthzAnswer>
  /** After a message is accepted, before routing; the client is null for the broker's own messages. */
  published: (message: Message, client: ClientInfo | null) => void
  clientConnected: (client: ClientInfo, conn: ConnInfo) => void
  clientDisconnected: (client: ClientInfo, reason: string, conn: ConnInfo) => void
  /** After SUBACK granted the filter (EMQX session.subscribed). */
  clientSubscribed: (client: ClientInfo, sub: SubscribedInfo) => void
  /** After UNSUBSCRIBE removed a filter the client had (EMQX session.unsubscribed). */
  clientUnsubscribed: (client: ClientInfo, topic: string) => void
}

/** The hooks that only observe: each is told, none answers. */
export type ObserverName = 'published' | 'clientConnected' | 'clientDisconnected' | 'clientSubscribed' | 'clientUnsubscribed'

/** `disconnect`: deny, and end the client's connection (EMQX's authorization.deny_action = disconnect). */
export type AuthzAnswer = boolean | 'allow' | 'deny' | 'disconnect' | 'ignore' | undefined

/** What an authorize chain decided: allowed, denied, or denied with the connection to be ended. */
export type AuthzDecision = boolean | 'disconnect'

/**
 * Read checks per delivery (Mosquitto's): a subscription granted for a wildcard filter must not deliver a
 * topic that a rule denies the client. Set only while some rule can deny a subscription; synchronous.
 */
export interface ReadGuard {
  /** Whether any rule could deny reading `topic` (as routed, with its mountpoint): asked once per message. */
  mayDeny (topic: string): boolean
  /** Whether the client may receive `topic` at `qos` through a wildcard subscription; `now`: Date.now(), read once per message. */
  mayRead (client: ClientInfo, topic: string, qos: number, now: number): boolean
}

export type HookName = keyof HookMap

export class Hooks {
  readonly authenticate: HookMap['authenticate'][] = []
  readonly authorizePublish: HookMap['authorizePublish'][] = []
  readonly authorizeSubscribe: HookMap['authorizeSubscribe'][] = []
  readonly published: HookMap['published'][] = []
  readonly clientConnected: HookMap['clientConnected'][] = []
  readonly clientDisconnected: HookMap['clientDisconnected'][] = []
  readonly clientSubscribed: HookMap['clientSubscribed'][] = []
  readonly clientUnsubscribed: HookMap['clientUnsubscribed'][] = []
  /** Set by the authenticator chain: an exchange for CONNECT's Authentication Method, undefined when none serves it. */
  enhancedAuth: ((client: ClientInfo, method: string) => EnhancedAuthExchange | undefined) | undefined
  /** Set by the authorizer when a rule can deny a subscription: deliveries through wildcard filters ask it. */
  readGuard: ReadGuard | undefined = undefined

  add<K extends HookName> (name: K, fn: HookMap[K]): void {
    const list = this[name] as HookMap[K][] | undefined
    if (!Array.isArray(list)) throw new TypeError(`unknown hook ${String(name)}`)
    list.push(fn)
  }

  remove<K extends HookName> (name: K, fn: HookMap[K]): void {
    const list = this[name] as HookMap[K][]
    const at = list.indexOf(fn)
    if (at >= 0) list.splice(at, 1)
  }

  /** Told when an observer hook throws (the broker logs it); the broker and the other hooks go on. */
  onObserverError: (name: string, err: unknown) => void = () => {}

  notify<K extends ObserverName> (name: K, ...args: Parameters<HookMap[K]>): void {
    const list = this[name] as ((...a: Parameters<HookMap[K]>) => void)[]
    for (let i = 0; i < list.length; i++) {
      try {
        list[i]!(...args)
      } catch (err) {
        this.onObserverError(name, err)
      }
    }
  }
}

/** Runs the authenticate chain: the first ok or deny decides; all ignore denies. */
export async function runAuthenticate (hooks: Hooks, client: ClientInfo, credentials: Credentials): Promise<AuthResult> {
  for (const hook of hooks.authenticate) {
    const answer = await hook(client, credentials)
    if (answer.result !== 'ignore') return answer
  }
  return hooks.authenticate.length === 0 ? { result: 'ok' } : { result: 'deny', reason: 'no authenticator accepted the client' }
}

/**
 * Runs an authorize chain: the first allow or deny (or disconnect) decides; all ignore allows.
 * Returns the decision itself when every hook answered synchronously, so the common case needs no promise.
 */
export function runAuthorize<A extends unknown[]> (
  list: ((...args: A) => Awaitable<AuthzAnswer>)[], ...args: A
): AuthzDecision | Promise<AuthzDecision> {
  for (let i = 0; i < list.length; i++) {
    const answer = list[i]!(...args)
    if (answer instanceof Promise) return finishAsync(answer, list, i, args)
    const decided = decide(answer)
    if (decided !== undefined) return decided
  }
  return true
}

async function finishAsync<A extends unknown[]> (
  first: Promise<AuthzAnswer>, list: ((...args: A) => Awaitable<AuthzAnswer>)[], at: number, args: A,
): Promise<AuthzDecision> {
  let decided = decide(await first)
  for (let i = at + 1; decided === undefined && i < list.length; i++) decided = decide(await list[i]!(...args))
  return decided ?? true
}

function decide (answer: AuthzAnswer): AuthzDecision | undefined {
  if (answer === true || answer === 'allow') return true
  if (answer === false || answer === 'deny') return false
  if (answer === 'disconnect') return 'disconnect'
  return undefined
}
