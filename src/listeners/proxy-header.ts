// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), parsed strictly from the
// bytes received so far. Written here rather than taken from npm: the parsers there (proxy-protocol-js,
// @balena/proxy-protocol-parser) parse a whole buffer only, validate neither v1 addresses nor lengths, and
// do not read v2's TLVs (PP2_TYPE_SSL and its sub-TLVs), which carry the client's TLS facts.
import { isUtf8 } from 'node:buffer'
import { isIPv4, isIPv6 } from 'node:net'

/** The largest v1 header, CRLF included (proxy-protocol.txt 2.1). */
export const V1_MAX = 107
/** The largest v2 header Culex reads (16-byte preamble and TLVs); HAProxy's, with every TLV, is a few hundred. */
export const V2_MAX = 4096

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_PREFIX = Buffer.from('PROXY ')

// v2 TLV types (proxy-protocol.txt 2.2.x).
const PP2_TYPE_AUTHORITY = 0x02
const PP2_TYPE_CRC32C = 0x03
const PP2_TYPE_SSL = 0x20
const PP2_SUBTYPE_SSL_VERSION = 0x21
const PP2_SUBTYPE_SSL_CN = 0x22
const PP2_SUBTYPE_SSL_CIPHER = 0x23
const PP2_SUBTYPE_SSL_SIG_ALG = 0x24
const PP2_SUBTYPE_SSL_KEY_ALG = 0x25

/** PP2_TYPE_SSL `client` bits. */
export const PP2_CLIENT_SSL = 0x01
export const PP2_CLIENT_CERT_CONN = 0x02
export const PP2_CLIENT_CERT_SESS = 0x04

export interface Endpoint { address: string, port: number }

/** PP2_TYPE_SSL: how the client's TLS went at the proxy. */
export interface ProxiedTls {
  /** PP2_CLIENT_* bits. */
  client: number
  /** 0: the client presented a certificate and the proxy verified it (with a CERT bit set). */
  verify: number
  version?: string
  /** The client certificate's subject common name. */
  cn?: string
  cipher?: string
  sigAlg?: string
  keyAlg?: string
}

export interface ProxyHeader {
  version: 1 | 2
  /** v2 LOCAL, v1 UNKNOWN, or an address family without IP addresses: the socket's own addresses stand. */
  local: boolean
  source?: Endpoint
  destination?: Endpoint
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (SNI). */
  authority?: string
  tls?: ProxiedTls
}

export type ProxyFailure = 'not_proxy' | 'malformed' | 'unsupported' | 'too_long' | 'bad_crc'

export type ParseResult =
  | { state: 'incomplete' }
  | { state: 'failed', reason: ProxyFailure, detail: string }
  | { state: 'done', header: ProxyHeader, length: number }

const INCOMPLETE: ParseResult = { state: 'incomplete' }
const fail = (reason: ProxyFailure, detail: string): ParseResult => ({ state: 'failed', reason, detail })

/** Reads a header from the start of `buf`: done (with its length), failed, or incomplete (more bytes needed). */
export function parseProxyHeader (buf: Buffer): ParseResult {
  if (buf.length === 0) return INCOMPLETE
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf)
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf)
  return fail('not_proxy', `the connection did not start with a PROXY protocol header (first byte 0x${buf[0]!.toString(16).padStart(2, '0')})`)
}

function prefixMismatch (buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length)
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return true
  return false
}

function parseV1 (buf: Buffer): ParseResult {
  if (prefixMismatch(buf, V1_PREFIX)) return fail('not_proxy', 'the connection did not start with a PROXY protocol header')
  const end = buf.indexOf('\r\n', 0, 'latin1')
  if (end < 0 || end + 2 > V1_MAX) {
    if (buf.length >= V1_MAX) return fail('too_long', `PROXY v1 line without CRLF in its first ${V1_MAX} bytes`)
    // A bare LF, or a CR followed by anything but LF, ends no valid line.
    const lf = buf.indexOf(0x0a)
    const cr = buf.indexOf(0x0d)
    if (lf >= 0 || (cr >= 0 && cr + 1 < buf.length)) return fail('malformed', 'PROXY v1 line not ended by CRLF')
    return INCOMPLETE
  }
  const line = buf.toString('latin1', V1_PREFIX.length, end)
  const length = end + 2
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { state: 'done', header: { version: 1, local: true }, length }
  const parts = line.split(' ')
  if (parts.length !== 5) return fail('malformed', 'PROXY v1 line: expected "PROXY TCP4|TCP6 SRC DST SRCPORT DSTPORT"')
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string]
  const isIp = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null
  if (isIp === null) return fail('malformed', `PROXY v1 line: unknown protocol ${JSON.stringify(proto.slice(0, 16))} (TCP4, TCP6 or UNKNOWN)`)
  if (!isIp(src) || !isIp(dst)) return fail('malformed', `PROXY v1 line: addresses are not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'} addresses`)
  const sp = port(sport)
  const dp = port(dport)
  if (sp < 0 || dp < 0) return fail('malformed', 'PROXY v1 line: ports must be decimal numbers 0-65535 without leading zeros')
  return { state: 'done', header: { version: 1, local: false, source: { address: src, port: sp }, destination: { address: dst, port: dp } }, length }
}

function port (text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return -1
  const n = Number(text)
  return n <= 65535 ? n : -1
}

// v2 is what proxies send, once per connection: parsed from offsets into the received bytes, without
// subarrays or sets, since a proxied connection storm parses one header per connection.
function parseV2 (buf: Buffer): ParseResult {
  if (prefixMismatch(buf, V2_SIGNATURE)) return fail('not_proxy', 'the connection did not start with a PROXY protocol header')
  if (buf.length < 16) return INCOMPLETE
  const versionCommand = buf[12]!
  if (versionCommand >> 4 !== 2) return fail('unsupported', `PROXY v2 header with version ${versionCommand >> 4} (only 2 exists)`)
  const command = versionCommand & 0x0f
  if (command > 1) return fail('unsupported', `PROXY v2 header with command ${command} (LOCAL or PROXY)`)
  const family = buf[13]! >> 4
  const transport = buf[13]! & 0x0f
  const length = 16 + buf.readUInt16BE(14)
  if (length > V2_MAX) return fail('too_long', `PROXY v2 header of ${length} bytes (at most ${V2_MAX} read)`)
  if (buf.length < length) return INCOMPLETE
  const addressLength = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0
  if (family > 3) return fail('unsupported', `PROXY v2 header with address family ${family}`)
  if (transport > 2) return fail('unsupported', `PROXY v2 header with transport ${transport}`)
  if (length - 16 < addressLength) return fail('malformed', `PROXY v2 header: ${length - 16} bytes of addresses and TLVs, the address family needs ${addressLength}`)
  const header: ProxyHeader = { version: 2, local: true }
  if (command === 1 && (family === 1 || family === 2)) {
    if (transport !== 1) return fail('unsupported', 'PROXY v2 header for a datagram (UDP) connection')
    const size = family === 1 ? 4 : 16
    header.local = false
    header.source = { address: ipText(buf, 16, size), port: buf.readUInt16BE(16 + 2 * size) }
    header.destination = { address: ipText(buf, 16 + size, size), port: buf.readUInt16BE(16 + 2 * size + 2) }
  }
  const problem = readTlvs(buf, 16 + addressLength, length, header)
  if (problem) return problem
  return { state: 'done', header, length }
}

/**
 * Types seen in the TLV list being read: seen[type] === seenMark. A new list takes a new mark, so
 * nothing is cleared or allocated per header.
 */
const seen = new Uint32Array(256)
let seenMark = 0

function newMark (): number {
  if (++seenMark === 0xffffffff) {
    seen.fill(0)
    seenMark = 1
  }
  return seenMark
}

/** The TLVs of the header that ends at `end`, from `start`. Returns a failure or null. */
function readTlvs (buf: Buffer, start: number, end: number, header: ProxyHeader): ParseResult | null {
  const mark = newMark()
  let crcAt = -1
  for (let i = start; i < end;) {
    if (i + 3 > end) return fail('malformed', 'PROXY v2 header: a TLV cut short')
    const type = buf[i]!
    const len = buf.readUInt16BE(i + 1)
    const from = i + 3
    const to = from + len
    if (to > end) return fail('malformed', `PROXY v2 header: TLV 0x${type.toString(16)} longer than the header`)
    if (type === PP2_TYPE_AUTHORITY || type === PP2_TYPE_CRC32C || type === PP2_TYPE_SSL) {
      if (seen[type] === mark) return fail('malformed', `PROXY v2 header: TLV 0x${type.toString(16)} twice`)
      seen[type] = mark
    }
    if (type === PP2_TYPE_AUTHORITY) {
      const text = textValue(buf, from, to)
      if (text === null) return fail('malformed', 'PROXY v2 header: PP2_TYPE_AUTHORITY is not printable UTF-8')
      header.authority = text
    } else if (type === PP2_TYPE_CRC32C) {
      if (len !== 4) return fail('malformed', 'PROXY v2 header: PP2_TYPE_CRC32C is not 4 bytes')
      crcAt = from
    } else if (type === PP2_TYPE_SSL) {
      const tls = readSsl(buf, from, to)
      if (typeof tls === 'string') return fail('malformed', `PROXY v2 header: PP2_TYPE_SSL ${tls}`)
      header.tls = tls
    }
    // Other types (ALPN, NOOP, UNIQUE_ID, NETNS, a cloud's own) are skipped, as the protocol asks.
    i = to
  }
  if (crcAt >= 0) {
    const expected = buf.readUInt32BE(crcAt)
    const copy = Buffer.from(buf.subarray(0, end))
    copy.writeUInt32BE(0, crcAt)
    if (crc32c(copy) !== expected) return fail('bad_crc', 'PROXY v2 header: its PP2_TYPE_CRC32C checksum does not match')
  }
  return null
}

/** PP2_TYPE_SSL's value, from `start` to `end` of `buf`: its facts, or what is wrong with it. */
function readSsl (buf: Buffer, start: number, end: number): ProxiedTls | string {
  if (end - start < 5) return 'shorter than its 5 fixed bytes'
  const tls: ProxiedTls = { client: buf[start]!, verify: buf.readUInt32BE(start + 1) }
  const mark = newMark()
  for (let i = start + 5; i < end;) {
    if (i + 3 > end) return 'has a sub-TLV cut short'
    const type = buf[i]!
    const len = buf.readUInt16BE(i + 1)
    if (i + 3 + len > end) return `sub-TLV 0x${type.toString(16)} is longer than PP2_TYPE_SSL`
    if (seen[type] === mark) return `has sub-TLV 0x${type.toString(16)} twice`
    seen[type] = mark
    const field = SSL_FIELDS[type]
    if (field) {
      const text = textValue(buf, i + 3, i + 3 + len)
      if (text === null) return `sub-TLV ${field} is not printable UTF-8`
      tls[field] = text
    }
    i += 3 + len
  }
  return tls
}

const SSL_FIELDS: Record<number, 'version' | 'cn' | 'cipher' | 'sigAlg' | 'keyAlg'> = {
  [PP2_SUBTYPE_SSL_VERSION]: 'version',
  [PP2_SUBTYPE_SSL_CN]: 'cn',
  [PP2_SUBTYPE_SSL_CIPHER]: 'cipher',
  [PP2_SUBTYPE_SSL_SIG_ALG]: 'sigAlg',
  [PP2_SUBTYPE_SSL_KEY_ALG]: 'keyAlg',
}

/** UTF-8 without control characters (these values reach logs, user names and ACL placeholders), else null. */
function textValue (buf: Buffer, start: number, end: number): string | null {
  let ascii = true
  for (let i = start; i < end && ascii; i++) ascii = buf[i]! >= 0x20 && buf[i]! < 0x7f
  if (ascii) return buf.toString('latin1', start, end)
  const value = buf.subarray(start, end)
  if (!isUtf8(value)) return null
  const text = value.toString('utf8')
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(text) ? null : text
}

/** The IPv4 (size 4) or IPv6 (size 16) address at `at` in `buf`, as Node writes a socket's peer. */
function ipText (buf: Buffer, at: number, size: number): string {
  if (size === 4) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`
  const bytes = buf.subarray(at, at + 16)
  // An IPv4-mapped address as Node writes a dual-stack socket's peer: ::ffff:a.b.c.d.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.subarray(12).join('.')}`
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  return compressIPv6(groups)
}

/** RFC 5952 text: the longest run of two or more zero groups becomes "::". */
function compressIPv6 (groups: string[]): string {
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLength) { best = i; bestLength = j - i }
    i = j
  }
  if (best < 0) return groups.join(':')
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`
}

let CRC_TABLE: Uint32Array | null = null

/** CRC-32C (Castagnoli), as PP2_TYPE_CRC32C carries it. */
function crc32c (buf: Buffer): number {
  if (CRC_TABLE === null) {
    CRC_TABLE = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
      CRC_TABLE[n] = c >>> 0
    }
  }
  let crc = 0xffffffff
  for (const byte of buf) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}
