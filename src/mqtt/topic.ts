// Topic name and filter rules (MQTT 5 spec 4.7, 3.1.1 spec 4.7).

export const SHARE_PREFIX = '$share/'

export interface SharedFilter { group: string; filter: string }

/** Why a topic name is refused, or null when it is valid for PUBLISH. */
export function topicNameError (topic: string, maxLevels: number): string | null {
  if (topic.length === 0) return 'empty topic'
  if (topic.includes('+') || topic.includes('#')) return 'wildcard in a topic name'
  return commonError(topic, maxLevels)
}

/** Why a topic filter is refused, or null when it is valid for SUBSCRIBE. Handles `$share/group/filter`. */
export function topicFilterError (filter: string, maxLevels: number): string | null {
  if (filter.length === 0) return 'empty topic filter'
  const shared = parseShared(filter)
  if (shared === null) return 'a shared subscription needs $share/<group>/<filter>'
  const plain = shared ? shared.filter : filter
  if (shared && (shared.group.includes('+') || shared.group.includes('#'))) return 'wildcard in a share name'
  if (plain.length === 0) return 'empty topic filter'
  const levels = plain.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "'#' must be the last level and alone in it"
    if (level.includes('+') && level !== '+') return "'+' must stand alone in its level"
  }
  return commonError(plain, maxLevels)
}

/** One pass over the topic: it is checked for every PUBLISH. */
function commonError (topic: string, maxLevels: number): string | null {
  let levels = 1
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i)
    if (c === 47) levels++
    else if (c === 0) return 'U+0000 in a topic'
    // mqtt-packet decodes ill-formed UTF-8 to U+FFFD; we refuse U+FFFD rather than let a bad topic through.
    else if (c === 0xfffd) return 'topic is not valid UTF-8'
  }
  // Up to 3 UTF-8 bytes per UTF-16 unit: only long topics need counting.
  if (topic.length > 21845 && Buffer.byteLength(topic) > 65535) return 'topic longer than 65535 bytes'
  if (levels > maxLevels) return `more than ${maxLevels} topic levels (mqtt.max_topic_levels)`
  return null
}

/** Ill-formed UTF-8 (which mqtt-packet decodes to U+FFFD) or U+0000 makes the packet malformed [MQTT-1.5.4-1, MQTT-1.5.4-2]. */
export function isMalformedString (text: string): boolean {
  return text.includes('\u0000') || text.includes('\uFFFD')
}

/** `$share/g/f` → {group, filter}; a plain filter → undefined; a malformed `$share` → null. */
export function parseShared (filter: string): SharedFilter | undefined | null {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined
  const slash = filter.indexOf('/', SHARE_PREFIX.length)
  if (slash <= SHARE_PREFIX.length) return null
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) }
}

/** `$SYS` and the topics under it, where only the broker publishes. */
export function isSysTopic (topic: string): boolean {
  return topic === '$SYS' || topic.startsWith('$SYS/')
}

export function hasWildcard (filter: string): boolean {
  return filter.includes('+') || filter.includes('#')
}

/** Whether `topic` matches `filter`; `$`-topics are not matched by a leading wildcard [MQTT-4.7.2-1]. */
export function topicMatches (filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 36 && (filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35)) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    if (level === '#') return true
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}
