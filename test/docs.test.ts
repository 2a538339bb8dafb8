import { readFileSync } from 'node:fs'
import t from 'tap'
import { configDocs } from '../src/config/docs.js'
import { errorDocs } from '../src/errors-doc.js'
import { ERRORS } from '../src/errors.js'

const read = (name: string) => readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8')

t.test('docs/config.md is generated from the schema (run npm run docs)', async (t) => {
  const docs = read('config.md')
  t.equal(docs, configDocs())
  t.match(docs, /\| `mqtt\.max_packet_size` \| size \| `1MB` \|/)
  t.match(docs, /\| `listeners\.tcp\.<name>\.bind` \|/)
})

t.test('docs/errors.md lists every error code (run npm run docs)', async (t) => {
  const docs = read('errors.md')
  t.equal(docs, errorDocs())
  for (const code of Object.keys(ERRORS)) t.match(docs, `\`${code}\``)
})
