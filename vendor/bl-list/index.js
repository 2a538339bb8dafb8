// `bl` as mqtt-packet's parser sees it, installed only under mqtt-packet (package.json "overrides"; the
// spec's path is relative to node_modules/mqtt-packet, as for vendor/debug-off). Its parser keeps the
// bytes of a packet in `bl()`, a BufferListStream: a Duplex stream it never pipes, whose readable and
// writable states and listeners were most of the cost of a parser and about 0.7 KiB per connection.
// It uses only BufferList's methods (append, consume, length, readUInt*, slice, toString), so it gets a
// plain BufferList from the real bl, a dependency of Culex.
'use strict'

const { BufferList } = require('bl')

function bl (buf) {
  return new BufferList(buf)
}

module.exports = bl
module.exports.BufferList = BufferList
