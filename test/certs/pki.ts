// Helpers for the certificate tests: temporary directories, the system openssl, a small PKI.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, issueClient, issueServer, type Issued, type KeyType } from '../../src/certs/index.js'

export const OPENSSL = '/usr/bin/openssl'
export const hasOpenssl = existsSync(OPENSSL)

export interface Run { code: number | null, stdout: string, stderr: string }

/** Runs a command with a 20 s bound; never rejects on a non-zero exit. */
export function run (cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export const openssl = (...args: string[]) => run(OPENSSL, args)

/** A temporary directory removed when the test ends. */
export async function tempDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-certs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Writes name → content files into dir; returns name → path. */
export async function writeFiles (dir: string, files: Record<string, string>): Promise<Record<string, string>> {
  const paths: Record<string, string> = {}
  for (const [name, content] of Object.entries(files)) {
    paths[name] = join(dir, name)
    await writeFile(paths[name], content)
  }
  return paths
}

export interface Pki { ca: Issued, server: Issued, client: Issued }

/** What `culex certs init` makes: a CA, a server cert for localhost/127.0.0.1/::1 and a client cert. */
export async function makePki (key: KeyType = 'ec256'): Promise<Pki> {
  const ca = await createCa({ cn: 'Test CA', key })
  const server = await issueServer({ ca, cn: 'localhost', sans: ['localhost', '127.0.0.1', '::1'], key })
  const client = await issueClient({ ca, cn: 'client', key })
  return { ca, server, client }
}

/** Flips one byte in the signature at the end of a certificate's DER, keeping it parseable. */
export function tamperSignature (certPem: string): string {
  const b64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '')
  const der = Buffer.from(b64, 'base64')
  der[der.length - 3] ^= 0x01
  const body = der.toString('base64').match(/.{1,64}/g)!.join('\n')
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`
}
