// A silent stand-in for `debug`, installed only under mqtt-packet (package.json "overrides"). Its parser
// and writer call debug() several times per packet; with debug output off those calls still cost about
// a third of the broker's QoS 0 throughput (a rest-argument array and the `enabled` getter per call:
// fan-in 191k → 270k msg/s, 50 pairs 159k → 221k in an A/B on one core). Culex logs through pino.
// The override's spec is "file:../../vendor/debug-off" because npm resolves a nested override's file:
// path from the dependent package's folder (node_modules/mqtt-packet), not from the project root.
'use strict'

function createDebug () {
  const debug = () => {}
  debug.enabled = false
  debug.extend = createDebug
  return debug
}
createDebug.enable = () => {}
createDebug.disable = () => ''
createDebug.enabled = () => false

module.exports = createDebug
module.exports.default = createDebug
