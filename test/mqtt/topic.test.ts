import t from 'tap'
import { hasWildcard, isMalformedString, parseShared, topicFilterError, topicMatches, topicNameError } from '../../src/mqtt/topic.js'

t.test('topicNameError', async (t) => {
  const valid = ['a', 'a/b/c', '/', 'a//b', '/a', 'a/', '$SYS/broker', 'a b', 'ü/€/😀', 'a'.repeat(65535)]
  for (const topic of valid) t.equal(topicNameError(topic, 128), null, `${JSON.stringify(topic.slice(0, 20))} is valid`)
  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['a/+', /wildcard/],
    ['a/#', /wildcard/],
    ['+', /wildcard/],
    ['a+b', /wildcard/],
    ['x#', /wildcard/],
    ['a\u0000b', /U\+0000/],
    ['a/\uFFFD', /UTF-8/],
    ['a'.repeat(65536), /65535 bytes/],
    // 21846 characters, 65538 bytes: the limit is on the encoded length [MQTT-4.7.3-3]
    ['€'.repeat(21846), /65535 bytes/],
  ]
  for (const [topic, reason] of invalid) t.match(topicNameError(topic, 128), reason, `${JSON.stringify(topic.slice(0, 20))} is refused`)
})

t.test('topicNameError counts levels against mqtt.max_topic_levels', async (t) => {
  t.equal(topicNameError('a/b/c', 3), null)
  t.match(topicNameError('a/b/c/d', 3), /more than 3 topic levels/)
  t.equal(topicNameError('a', 1), null)
  t.match(topicNameError('/', 1), /more than 1 topic levels/, 'empty levels count')
})

t.test('topicFilterError', async (t) => {
  const valid = ['a', '#', '+', 'a/#', 'a/+/b', '+/+', '/#', '+/#', 'a//b', '$SYS/#', '$share/g/a/#', '$share/g/#', '$share/g/+', '$share/g/$SYS/x']
  for (const filter of valid) t.equal(topicFilterError(filter, 128), null, `${filter} is valid`)
  const invalid: [string, RegExp][] = [
    ['', /empty topic filter/],
    ['a/#/b', /'#' must be the last level/],
    ['#/a', /'#' must be the last level/],
    ['a#', /'#' must be the last level/],
    ['a/b#', /'#' must be the last level/],
    ['a+/b', /'\+' must stand alone/],
    ['a/+b', /'\+' must stand alone/],
    ['$share/g', /\$share\/<group>\/<filter>/],
    ['$share//a', /\$share\/<group>\/<filter>/],
    ['$share/', /\$share\/<group>\/<filter>/],
    ['$share/g/', /empty topic filter/],
    ['$share/g+/a', /wildcard in a share name/],
    ['$share/g#/a', /wildcard in a share name/],
    ['$share/g/a/#/b', /'#' must be the last level/],
    ['a/\u0000', /U\+0000/],
    ['\uFFFD/#', /UTF-8/],
  ]
  for (const [filter, reason] of invalid) t.match(topicFilterError(filter, 128), reason, `${JSON.stringify(filter)} is refused`)
  t.equal(topicFilterError('$share/g/a/b/c', 3), null, 'levels are counted without the $share/group prefix')
  t.match(topicFilterError('$share/g/a/b/c/d', 3), /more than 3/)
})

t.test('parseShared', async (t) => {
  const table: [string, ReturnType<typeof parseShared>][] = [
    ['a/b', undefined],
    ['$share/g/a/b', { group: 'g', filter: 'a/b' }],
    ['$share/group-1/#', { group: 'group-1', filter: '#' }],
    ['$share/g/', { group: 'g', filter: '' }],
    ['$share//a', null],
    ['$share/g', null],
    ['$share/', null],
    ['$sharex/g/a', undefined],
    ['$SHARE/g/a', undefined],
    ['$queue/a', undefined],
  ]
  for (const [filter, expected] of table) t.same(parseShared(filter), expected, filter)
})

t.test('topicMatches', async (t) => {
  const table: [string, string, boolean][] = [
    ['a/b', 'a/b', true],
    ['a/b', 'a', false],
    ['a', 'a/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/+', 'a', false],
    ['a/+', 'a/', true],
    ['a/+/c', 'a//c', true],
    ['+/+', '/a', true],
    ['+', '/a', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['+/#', 'a', true],
    ['#', 'a/b', true],
    ['#', '/', true],
    ['/#', '/a', true],
    ['/#', 'a', false],
    ['#', '$SYS/a', false],
    ['+/a', '$SYS/a', false],
    ['+', '$SYS', false],
    ['$SYS/#', '$SYS/a/b', true],
    ['$SYS/+', '$SYS/a', true],
    ['$SYS/#', '$SYS', true],
    ['a/+', 'a/$b', true],
    ['A/b', 'a/b', false],
  ]
  for (const [filter, topic, expected] of table) t.equal(topicMatches(filter, topic), expected, `${filter} ${expected ? 'matches' : 'does not match'} ${topic}`)
})

t.test('hasWildcard and isMalformedString', async (t) => {
  t.equal(hasWildcard('a/b'), false)
  t.equal(hasWildcard('a/+'), true)
  t.equal(hasWildcard('#'), true)
  t.equal(isMalformedString('a/b ü'), false)
  t.equal(isMalformedString('a\u0000'), true)
  t.equal(isMalformedString(Buffer.from([0x61, 0xc0, 0xaf]).toString('utf8')), true, 'ill-formed UTF-8 as mqtt-packet decodes it')
  t.equal(isMalformedString(Buffer.from([0xed, 0xa0, 0x80]).toString('utf8')), true, 'an encoded surrogate')
})
