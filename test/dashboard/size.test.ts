// The built dashboard: everything a browser loads (index.html and its assets) weighs under 200 KB gzip, loads
// nothing from another origin, and runs no inline script (the server's CSP is default-src 'self').
import t from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { DASHBOARD_DIR } from './browser.js'

t.test('the whole page is small, self-contained and CSP-clean', async (t) => {
  const index = await readFile(join(DASHBOARD_DIR, 'index.html'), 'utf8')
  const assets = await readdir(join(DASHBOARD_DIR, 'assets'))
  t.ok(assets.some((f) => /^app-[A-Z0-9]+\.js$/.test(f)), 'a hashed app .js')
  t.ok(assets.some((f) => /^app-[A-Z0-9]+\.css$/.test(f)), 'a hashed app .css')
  for (const f of assets) t.ok(index.includes(`assets/${f}`), `index.html loads ${f}`)
  t.notMatch(index, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script')
  t.notMatch(index, /<style/, 'no inline style element')
  let total = gzipSync(index).length
  for (const f of assets) {
    const body = await readFile(join(DASHBOARD_DIR, 'assets', f))
    total += gzipSync(body).length
    t.notMatch(body.toString('utf8'), /https?:\/\/(?!www\.w3\.org)[a-z0-9.-]+\.[a-z]{2,}\/[^\s"'`)]*\.(js|css|woff2?|ttf)\b/i, `${f} loads nothing from another site`)
  }
  t.ok(total < 200 * 1024, `${total} bytes gzip, under 200 KB`)
})
