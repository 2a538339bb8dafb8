// Builds the dashboard (dashboard/) into dist/dashboard: index.html and assets/app-[hash].js/.css, no inline
// script or style (the server sends a CSP of default-src 'self').
import { build } from 'esbuild'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const out = join(root, 'dist', 'dashboard')

await rm(out, { recursive: true, force: true })
const result = await build({
  entryPoints: { app: join(root, 'dashboard', 'main.ts') },
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
})
const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file))
const js = outputs.find((f) => f.endsWith('.js'))
const css = outputs.find((f) => f.endsWith('.css'))
if (!js || !css) throw new Error(`dashboard build: expected one .js and one .css, got ${outputs.join(', ')}`)
const template = await readFile(join(root, 'dashboard', 'index.html'), 'utf8')
await mkdir(out, { recursive: true })
await writeFile(join(out, 'index.html'), template.replace('__JS__', `assets/${js}`).replace('__CSS__', `assets/${css}`))
