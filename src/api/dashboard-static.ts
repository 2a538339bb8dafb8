// The browser dashboard at `/`: the files of dist/dashboard/ (found beside this module, in a clone and in the
// installed package alike), with a strict Content-Security-Policy. A GET of a path outside /api that is no
// file and has no extension is a page of the dashboard's own routing: index.html answers it. Without the
// built files, such paths answer 404 with a page that says so.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** dist/api/dashboard-static.js → dist/dashboard/; run from src/ (tsx), the built one at dist/dashboard/. */
const CANDIDATES = [new URL('../dashboard/', import.meta.url), new URL('../../dist/dashboard/', import.meta.url)]

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  // No inline script; inline styles are allowed for the UI's small libraries (charts set style attributes).
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** The directory of the built dashboard (holding index.html), or null when it is not built. */
export function dashboardRoot (): string | null {
  for (const url of CANDIDATES) {
    const dir = fileURLToPath(url)
    if (existsSync(`${dir}index.html`)) return dir
  }
  return null
}

/** Serves the dashboard's files; returns the handler for GETs of paths that are neither a file nor a route. */
export async function serveDashboard (app: FastifyInstance, root: string | null): Promise<(request: FastifyRequest, reply: FastifyReply) => FastifyReply> {
  if (root !== null) {
    await app.register(fastifyStatic, {
      root,
      wildcard: true,
      index: 'index.html',
      dotfiles: 'deny',
      cacheControl: false,
      setHeaders: (res, path) => {
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value)
        // Assets carry a hash of their content in their names; index.html names the current ones.
        res.setHeader('cache-control', path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable')
      },
    })
    // Marks the file route public for the authentication hook (fastify-static takes no route config).
  }
  return (request, reply) => {
    void reply.headers(SECURITY_HEADERS)
    const path = request.url.split('?')[0]!
    if (root !== null && !/\.[^/]*$/.test(path)) return reply.sendFile('index.html')
    const message = root === null
      ? 'The dashboard is not built: its files (dist/dashboard/index.html) are not in this installation. The management API is at /api/v5.'
      : `No file ${path} in the dashboard.`
    return reply.code(404).type('text/html; charset=utf-8').send(placeholder(message))
  }
}

function placeholder (message: string): string {
  const text = message.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Culex</title></head><body><h1>Culex</h1><p>${text}</p></body></html>\n`
}
