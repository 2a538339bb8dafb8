// What `npm publish` would ship: the build, the shipped config and the README; no certificates, keys or data.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import semver from 'semver'
import t from 'tap'

const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('npm pack holds dist, etc/base.hocon, etc/acl.conf and README.md, and nothing secret', async (t) => {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root })
  const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path)
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/broker.js', 'etc/base.hocon', 'etc/acl.conf', 'README.md', 'package.json']) {
    t.ok(files.includes(needed), `${needed} is packed`)
  }
  const outside = files.filter((f) => !f.startsWith('dist/') && !['etc/base.hocon', 'etc/acl.conf', 'README.md', 'package.json'].includes(f))
  t.same(outside, [], 'nothing else outside dist/')
  t.same(files.filter((f) => /\.(pem|key|crt|p12|mdb)$|^(certs|data|test|etc\/certs)\//.test(f)), [], 'no certificate, key, store or test file')
})

t.test('every runtime dependency runs on the oldest Node.js that package.json\'s engines allow', async (t) => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }
  const oldest = semver.minVersion(pkg.engines.node)!.version
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean, engines?: { node?: string } | string[] }> }
  const refusing = Object.entries(lock.packages)
    .filter(([name, p]) => name !== '' && !p.dev && !Array.isArray(p.engines) && p.engines?.node !== undefined && !semver.satisfies(oldest, p.engines.node))
    .map(([name, p]) => `${name} needs node ${(p.engines as { node: string }).node}`)
  t.same(refusing, [], `all accept node ${oldest}`)
})
