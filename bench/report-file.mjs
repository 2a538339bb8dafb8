// BENCHMARKS.md is shared by npm run bench and npm run fuzz: each replaces only the text between its markers.
import fs from 'node:fs'

/** Writes `report` between the markers in `file` (appended with them when absent); the rest is kept. */
export function writeBetweenMarkers (file, begin, end, report, intro = '# Benchmarks\n') {
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : intro
  const from = existing.indexOf(begin)
  const to = existing.indexOf(end)
  const block = `${begin}\n${report}\n${end}`
  const updated = from !== -1 && to > from
    ? existing.slice(0, from) + block + existing.slice(to + end.length)
    : `${existing.trimEnd()}\n\n${block}\n`
  fs.writeFileSync(file, updated)
}
