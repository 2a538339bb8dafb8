// The PROXY protocol header parser: a table of malformed and valid headers (v1 text, v2 binary with TLVs),
// each also fed one byte more at a time, as a socket may deliver it: no prefix of a header is ever "done".
import t from 'tap'
import { parseProxyHeader, V1_MAX, V2_MAX, type ProxyHeader } from '../../src/listeners/proxy-header.js'
import { proxiedTls } from '../../src/listeners/proxy-protocol.js'

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

const tlv = (type: number, value: Buffer | string): Buffer => {
  const v = typeof value === 'string' ? Buffer.from(value) : value
  const head = Buffer.alloc(3)
  head[0] = type
  head.writeUInt16BE(v.length, 1)
  return Buffer.concat([head, v])
}

/** PP2_TYPE_SSL: client bits, verify, then sub-TLVs. */
const ssl = (client: number, verify: number, ...subs: Buffer[]): Buffer => {
  const fixed = Buffer.alloc(5)
  fixed[0] = client
  fixed.writeUInt32BE(verify, 1)
  return tlv(0x20, Buffer.concat([fixed, ...subs]))
}

const IPV4 = Buffer.from([10, 1, 2, 3, 192, 168, 0, 9, 0x30, 0x39, 0x07, 0x5b]) // 10.1.2.3:12345 -> 192.168.0.9:1883

/** A v2 header: version/command byte, family/transport byte, address block and TLVs; `length` overrides the length field. */
function v2 (opts: { vc?: number, ft?: number, body?: Buffer, tlvs?: Buffer[], length?: number } = {}): Buffer {
  const body = Buffer.concat([opts.body ?? IPV4, ...(opts.tlvs ?? [])])
  const head = Buffer.alloc(4)
  head[0] = opts.vc ?? 0x21
  head[1] = opts.ft ?? 0x11
  head.writeUInt16BE(opts.length ?? body.length, 2)
  return Buffer.concat([SIG, head, body])
}

const crc32c = (buf: Buffer): number => {
  let crc = 0xffffffff
  for (const byte of buf) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

/** A v2 header with PP2_TYPE_CRC32C set right (or `wrong`). */
function withCrc (wrong = false): Buffer {
  const h = v2({ tlvs: [tlv(0x03, Buffer.alloc(4))] })
  const sum = crc32c(h)
  h.writeUInt32BE(wrong ? (sum ^ 1) >>> 0 : sum, h.length - 4)
  return h
}

const text = (s: string) => Buffer.from(s, 'latin1')

interface Bad { name: string, bytes: Buffer, reason: string }

const MALFORMED: Bad[] = [
  { name: 'an HTTP request', bytes: text('GET / HTTP/1.1\r\n\r\n'), reason: 'not_proxy' },
  { name: 'an MQTT CONNECT', bytes: Buffer.from('100c00044d5154540402003c0000', 'hex'), reason: 'not_proxy' },
  { name: 'a TLS ClientHello', bytes: Buffer.from('160301', 'hex'), reason: 'not_proxy' },
  { name: 'PROXY without its space', bytes: text('PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'not_proxy' },
  { name: 'v1 in lower case', bytes: text('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'not_proxy' },
  { name: 'v1 ended by LF alone', bytes: text('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), reason: 'malformed' },
  { name: 'v1 with CR not followed by LF', bytes: text('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), reason: 'malformed' },
  { name: 'v1 protocol TCP5', bytes: text('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 protocol UDP4', bytes: text('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 TCP4 with an IPv6 destination', bytes: text('PROXY TCP4 1.2.3.4 ::1 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 TCP6 with IPv4 addresses', bytes: text('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 address with three parts', bytes: text('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 address that is a host name', bytes: text('PROXY TCP4 localhost 5.6.7.8 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 port 65536', bytes: text('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), reason: 'malformed' },
  { name: 'v1 port with a leading zero', bytes: text('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), reason: 'malformed' },
  { name: 'v1 negative port', bytes: text('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n'), reason: 'malformed' },
  { name: 'v1 two spaces', bytes: text('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 a field missing', bytes: text('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), reason: 'malformed' },
  { name: 'v1 a field too many', bytes: text('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'), reason: 'malformed' },
  { name: 'v1 with a NUL byte', bytes: text('PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n'), reason: 'malformed' },
  { name: 'v1 with no CRLF in 107 bytes', bytes: text('PROXY TCP4 ' + '1'.repeat(120)), reason: 'too_long' },
  { name: 'v1 with its CRLF at bytes 107-108', bytes: text('PROXY UNKNOWN ' + 'x'.repeat(V1_MAX - 15) + '\r\n'), reason: 'too_long' },
  { name: 'v2 signature with one byte wrong', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540b', 'hex'), Buffer.alloc(16)]), reason: 'not_proxy' },
  { name: 'v2 version 1', bytes: v2({ vc: 0x11 }), reason: 'unsupported' },
  { name: 'v2 version 3', bytes: v2({ vc: 0x31 }), reason: 'unsupported' },
  { name: 'v2 command 2', bytes: v2({ vc: 0x22 }), reason: 'unsupported' },
  { name: 'v2 address family 4', bytes: v2({ ft: 0x41 }), reason: 'unsupported' },
  { name: 'v2 transport 3', bytes: v2({ ft: 0x13 }), reason: 'unsupported' },
  { name: 'v2 PROXY over UDP (DGRAM)', bytes: v2({ ft: 0x12 }), reason: 'unsupported' },
  { name: 'v2 INET with 8 bytes of addresses', bytes: v2({ body: IPV4.subarray(0, 8) }), reason: 'malformed' },
  { name: 'v2 INET6 with IPv4-sized addresses', bytes: v2({ ft: 0x21 }), reason: 'malformed' },
  { name: 'v2 longer than Culex reads', bytes: v2({ length: V2_MAX }), reason: 'too_long' },
  { name: 'v2 TLV cut in its length', bytes: v2({ tlvs: [Buffer.from([0x04, 0x00])] }), reason: 'malformed' },
  { name: 'v2 TLV longer than the header', bytes: v2({ tlvs: [Buffer.from([0x04, 0x00, 0x05, 0x00])] }), reason: 'malformed' },
  { name: 'v2 PP2_TYPE_SSL shorter than 5 bytes', bytes: v2({ tlvs: [tlv(0x20, Buffer.from([1, 0, 0, 0]))] }), reason: 'malformed' },
  { name: 'v2 PP2_TYPE_SSL sub-TLV past its end', bytes: v2({ tlvs: [ssl(7, 0, Buffer.from([0x22, 0x00, 0x09, 0x61]))] }), reason: 'malformed' },
  { name: 'v2 PP2_TYPE_SSL sub-TLV cut in its length', bytes: v2({ tlvs: [ssl(7, 0, Buffer.from([0x22, 0x00]))] }), reason: 'malformed' },
  { name: 'v2 PP2_TYPE_SSL twice', bytes: v2({ tlvs: [ssl(7, 0, tlv(0x22, 'a')), ssl(7, 0, tlv(0x22, 'b'))] }), reason: 'malformed' },
  { name: 'v2 two common names', bytes: v2({ tlvs: [ssl(7, 0, tlv(0x22, 'alice'), tlv(0x22, 'admin'))] }), reason: 'malformed' },
  { name: 'v2 common name not UTF-8', bytes: v2({ tlvs: [ssl(7, 0, tlv(0x22, Buffer.from([0x61, 0xff, 0x62])))] }), reason: 'malformed' },
  { name: 'v2 common name with a newline', bytes: v2({ tlvs: [ssl(7, 0, tlv(0x22, 'alice\nlevel=admin'))] }), reason: 'malformed' },
  { name: 'v2 common name with a NUL', bytes: v2({ tlvs: [ssl(7, 0, tlv(0x22, 'admin\0.evil'))] }), reason: 'malformed' },
  { name: 'v2 authority with a control character', bytes: v2({ tlvs: [tlv(0x02, 'host\x1b')] }), reason: 'malformed' },
  { name: 'v2 authority twice', bytes: v2({ tlvs: [tlv(0x02, 'a'), tlv(0x02, 'b')] }), reason: 'malformed' },
  { name: 'v2 CRC32C of 3 bytes', bytes: v2({ tlvs: [tlv(0x03, Buffer.alloc(3))] }), reason: 'malformed' },
  { name: 'v2 CRC32C that does not match', bytes: withCrc(true), reason: 'bad_crc' },
]

interface Good { name: string, bytes: Buffer, header: Partial<ProxyHeader>, length?: number }

const MAX_V1 = 'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'
const V6 = Buffer.concat([
  Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.from('fe800000000000000000000000000002', 'hex'), Buffer.from([0, 80, 0, 81]),
])
const MAPPED = Buffer.concat([
  Buffer.from('00000000000000000000ffff0a000005', 'hex'), Buffer.from('00000000000000000000ffff0a000006', 'hex'), Buffer.from([0, 1, 0, 2]),
])

const VALID: Good[] = [
  { name: 'v1 TCP4, MQTT after it', bytes: text('PROXY TCP4 203.0.113.7 192.168.0.9 51000 1883\r\n\x10\x0c'), length: 47, header: { version: 1, local: false, source: { address: '203.0.113.7', port: 51000 }, destination: { address: '192.168.0.9', port: 1883 } } },
  { name: 'v1 TCP6', bytes: text('PROXY TCP6 2001:db8::1 ::1 0 65535\r\n'), header: { version: 1, local: false, source: { address: '2001:db8::1', port: 0 }, destination: { address: '::1', port: 65535 } } },
  { name: 'v1 of the largest size, 107 bytes', bytes: text(MAX_V1), length: V1_MAX, header: { version: 1, local: true } },
  { name: 'v1 UNKNOWN (the proxy\'s own connection)', bytes: text('PROXY UNKNOWN\r\n'), header: { version: 1, local: true } },
  { name: 'v1 UNKNOWN with addresses', bytes: text('PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n'), header: { version: 1, local: true } },
  { name: 'v2 LOCAL (a health check)', bytes: v2({ vc: 0x20, ft: 0x00, body: Buffer.alloc(0) }), header: { version: 2, local: true } },
  { name: 'v2 LOCAL with addresses: they are ignored', bytes: v2({ vc: 0x20 }), header: { version: 2, local: true, source: undefined } },
  { name: 'v2 PROXY INET', bytes: v2(), header: { version: 2, local: false, source: { address: '10.1.2.3', port: 12345 }, destination: { address: '192.168.0.9', port: 1883 } } },
  { name: 'v2 PROXY INET6', bytes: v2({ ft: 0x21, body: V6 }), header: { local: false, source: { address: '2001:db8::1', port: 80 }, destination: { address: 'fe80::2', port: 81 } } },
  { name: 'v2 PROXY INET6, IPv4-mapped', bytes: v2({ ft: 0x21, body: MAPPED }), header: { source: { address: '::ffff:10.0.0.5', port: 1 } } },
  { name: 'v2 PROXY UNSPEC: the socket\'s addresses stand', bytes: v2({ ft: 0x00, body: Buffer.alloc(0) }), header: { local: true } },
  { name: 'v2 PROXY UNIX: the socket\'s addresses stand', bytes: v2({ ft: 0x31, body: Buffer.alloc(216) }), header: { local: true } },
  { name: 'v2 unknown and NOOP TLVs skipped', bytes: v2({ tlvs: [tlv(0x04, Buffer.alloc(10)), tlv(0xe0, 'aws-vpce'), tlv(0x05, 'unique')] }), header: { local: false } },
  { name: 'v2 with a matching CRC32C', bytes: withCrc(), header: { local: false } },
  {
    name: 'v2 with PP2_TYPE_SSL, its sub-TLVs and the authority',
    bytes: v2({ tlvs: [tlv(0x02, 'broker.example'), ssl(7, 0, tlv(0x21, 'TLSv1.3'), tlv(0x22, 'device-7'), tlv(0x23, 'TLS_AES_128_GCM_SHA256'), tlv(0x24, 'ECDSA-SHA256'), tlv(0x25, 'EC256'))] }),
    header: { authority: 'broker.example', tls: { client: 7, verify: 0, version: 'TLSv1.3', cn: 'device-7', cipher: 'TLS_AES_128_GCM_SHA256', sigAlg: 'ECDSA-SHA256', keyAlg: 'EC256' } },
  },
  { name: 'v2 with a UTF-8 common name', bytes: v2({ tlvs: [ssl(3, 0, tlv(0x22, 'kühlschrank-1'))] }), header: { tls: { client: 3, verify: 0, cn: 'kühlschrank-1' } } },
]

t.test('malformed headers are refused with their reason, and no prefix of one is accepted', async (t) => {
  for (const c of MALFORMED) {
    const r = parseProxyHeader(c.bytes)
    t.match(r, { state: 'failed', reason: c.reason }, c.name)
    if (r.state === 'failed') t.ok(r.detail.length > 0, `${c.name}: says why`)
    let early = false
    for (let n = 1; n < c.bytes.length; n++) if (parseProxyHeader(c.bytes.subarray(0, n)).state === 'done') early = true
    t.notOk(early, `${c.name}: no prefix is a header`)
  }
})

t.test('valid headers give their fields and length; every shorter prefix is incomplete', async (t) => {
  for (const c of VALID) {
    const r = parseProxyHeader(c.bytes)
    t.match(r, { state: 'done', header: c.header }, c.name)
    if (r.state !== 'done') continue
    t.equal(r.length, c.length ?? c.bytes.length, `${c.name}: length`)
    const states = new Set<string>()
    for (let n = 1; n < r.length; n++) states.add(parseProxyHeader(c.bytes.subarray(0, n)).state)
    t.same([...states], r.length > 1 ? ['incomplete'] : [], `${c.name}: prefixes are incomplete`)
  }
})

t.test('a certificate counts only when the proxy says it was presented and verified', async (t) => {
  const tlsOf = (client: number, verify: number, cn?: string) => {
    const r = parseProxyHeader(v2({ tlvs: [ssl(client, verify, ...(cn ? [tlv(0x22, cn), tlv(0x21, 'TLSv1.2')] : []))] }))
    if (r.state !== 'done') throw new Error('expected a header')
    return proxiedTls(r.header)
  }
  t.match(tlsOf(0x07, 0, 'alice'), { version: 'TLSv1.2', peerCert: { cn: 'alice', proxied: true }, certRequested: true, proxied: true }, 'presented (conn and session), verify 0')
  t.match(tlsOf(0x03, 0, 'alice'), { peerCert: { cn: 'alice' } }, 'presented on this connection, verify 0')
  t.match(tlsOf(0x05, 0, 'alice'), { peerCert: { cn: 'alice' } }, 'presented in the session, verify 0')
  t.equal(tlsOf(0x07, 20, 'alice')?.peerCert, undefined, 'presented, not verified (X509_V_ERR 20): no certificate')
  t.equal(tlsOf(0x07, 1, 'alice')?.peerCert, undefined, 'verify 1: no certificate')
  t.equal(tlsOf(0x01, 0, 'alice')?.peerCert, undefined, 'a CN without a presented certificate does not count')
  t.match(tlsOf(0x01, 0), { peerCert: undefined, certRequested: true }, 'TLS without a certificate')
  t.equal(tlsOf(0x06, 0, 'alice'), undefined, 'PP2_CLIENT_SSL unset: the client did not use TLS at the proxy')
  t.match(tlsOf(0x07, 0), { peerCert: { cn: '' } }, 'verified without a CN TLV: a certificate with no common name')
})
