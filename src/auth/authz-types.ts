// What an authorization source is, and what it is asked and answers.
import type { Awaitable, ClientInfo } from '../mqtt/hooks.js'

export interface AuthzRequest {
  action: 'publish' | 'subscribe'
  /** Topic name or filter as the client wrote it: no mountpoint, no `$share/group/`. */
  topic: string
  qos: number
  retain: boolean
}

/** A source's verdict and the rule that gave it; undefined when no rule matched (or the source ignores the request). */
export type SourceAnswer = { permission: 'allow' | 'deny', rule: string } | undefined

/**
 * An authorization source (EMQX `authorization.sources[]`); library users may add their own. `authorize`
 * answers at once when its rules are in memory, or with a promise when it asks a service. A source that
 * throws or rejects is passed over as if it had no rule (EMQX's ignore): the authorizer logs and counts it.
 */
export interface AuthzSource {
  /** EMQX's source type (`file`, `built_in_database`, `http`, ...), or a library source's name. */
  readonly id: string
  authorize (client: ClientInfo, request: AuthzRequest): Awaitable<SourceAnswer>
  /**
   * true: answers with a promise (a service over the network). Such a source is asked at PUBLISH and SUBSCRIBE
   * only, as EMQX asks every source, and takes no part in the per-delivery read checks, which cannot wait.
   */
  readonly asynchronous?: boolean
  /**
   * The filters under which this source may deny a subscription, for the per-delivery read checks; 'any': any
   * topic. Without it, a synchronous source counts as 'any'.
   */
  denyScope? (): string[] | 'any'
  /** Reads its rules again (SIGHUP, a file change); false when they could not be read and the old ones stay. */
  reload? (why: string): boolean
  /** Starts watching what it reads (the broker has started). */
  watch? (): void
  /** Stops timers, watchers and connections. */
  close? (): void | Promise<void>
}

export interface AuthzDecision {
  permission: 'allow' | 'deny'
  /** `superuser`, `token_acl`, a source id, or `no_match`. */
  source: string
  rule: string | undefined
}

/** What the authorizer tells a source it made: its rules changed (cached decisions are dropped, read scopes recomputed). */
export interface SourceEvents {
  changed (source: AuthzSource): void
}
