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

t.test('the README\'s library example is test/library/readme-example.test.ts, word for word', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const example = readFileSync(new URL('./library/readme-example.test.ts', import.meta.url), 'utf8')
  t.ok(readme.includes('```ts\n' + example + '```\n'), 'README.md holds the example test as one ts block')
})

t.test('commands in the docs run culex through npx (culex is not on the PATH after npm ci)', async (t) => {
  for (const name of ['../README.md', '../DEVELOPERS.md', '../SECURITY.md', '../docs/certs.md', '../etc/base.hocon']) {
    const text = readFileSync(new URL(name, import.meta.url), 'utf8')
    const bare = text.split('\n').filter((line) => /(^\s*|`|\()culex (certs|start)\b/.test(line))
    t.same(bare, [], `${name.slice(3)}: no bare culex command`)
  }
})

t.test('every error code of src/errors.ts is raised somewhere in src/', async (t) => {
  const { execFileSync } = await import('node:child_process')
  for (const code of Object.keys(ERRORS)) {
    const users = execFileSync('grep', ['-rl', '--include=*.ts', `'${code}'`, 'src'], { cwd: new URL('..', import.meta.url) }).toString()
    t.ok(users.split('\n').some((f) => f && f !== 'src/errors.ts' && f !== 'src/errors-doc.ts'), `${code} is used`)
  }
})
