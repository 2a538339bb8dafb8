// Private keys: generation, PKCS#8 PEM export (optionally encrypted) and the WebCrypto views that
// @peculiar/x509 signs with. Keys are Node KeyObjects; WebCrypto keys are derived only to sign.
import { createPrivateKey, createPublicKey, generateKeyPair, webcrypto, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { CulexError } from '../errors.js'

export const KEY_TYPES = ['rsa2048', 'ec256', 'ec384'] as const
export type KeyType = typeof KEY_TYPES[number]
export const DEFAULT_KEY_TYPE: KeyType = 'ec256'

const generate = promisify(generateKeyPair)

export function isKeyType (value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value)
}

export async function generateKey (type: KeyType = DEFAULT_KEY_TYPE): Promise<KeyObject> {
  switch (type) {
    case 'rsa2048': return (await generate('rsa', { modulusLength: 2048 })).privateKey
    case 'ec256': return (await generate('ec', { namedCurve: 'P-256' })).privateKey
    case 'ec384': return (await generate('ec', { namedCurve: 'P-384' })).privateKey
  }
}

/** PKCS#8 PEM; with a password, an ENCRYPTED PRIVATE KEY (PBES2, AES-256-CBC). */
export function exportKeyPem (key: KeyObject, password?: string): string {
  if (password === undefined) return key.export({ type: 'pkcs8', format: 'pem' }) as string
  if (password === '') throw new CulexError('CULEX_ERR_CERT_KEY', 'the key password must not be empty')
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: password }) as string
}

/** PKCS#8 ENCRYPTED PRIVATE KEY, or a traditional OpenSSL key with a Proc-Type: 4,ENCRYPTED header. */
export function isEncryptedPem (pem: string): boolean {
  return pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || pem.includes('Proc-Type: 4,ENCRYPTED')
}

export function loadPrivateKey (pem: string, password?: string, what = 'private key'): KeyObject {
  const encrypted = isEncryptedPem(pem)
  if (encrypted && password === undefined) throw new CulexError('CULEX_ERR_CERT_KEY', `the ${what} is encrypted: give its password`)
  try {
    return createPrivateKey(password === undefined ? pem : { key: pem, passphrase: password })
  } catch (err) {
    if (encrypted) throw new CulexError('CULEX_ERR_CERT_KEY', `cannot decrypt the ${what}: wrong password?`, { cause: err })
    throw new CulexError('CULEX_ERR_CERT_KEY', `the ${what} is not a usable private key (${(err as Error).message})`, { cause: err })
  }
}

interface Algorithms { importParams: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams, signParams: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams }

const CURVES: Record<string, { curve: string, hash: string }> = {
  prime256v1: { curve: 'P-256', hash: 'SHA-256' },
  secp384r1: { curve: 'P-384', hash: 'SHA-384' },
  secp521r1: { curve: 'P-521', hash: 'SHA-512' },
}

/** The signature a key makes: ECDSA with the hash that matches its curve, RSA PKCS#1 v1.5 with SHA-256. */
export function algorithmsFor (key: KeyObject): Algorithms {
  if (key.asymmetricKeyType === 'rsa') {
    const params = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    return { importParams: params, signParams: params }
  }
  if (key.asymmetricKeyType === 'ec') {
    const named = CURVES[key.asymmetricKeyDetails?.namedCurve ?? '']
    if (named) return { importParams: { name: 'ECDSA', namedCurve: named.curve }, signParams: { name: 'ECDSA', hash: named.hash } }
  }
  throw new CulexError('CULEX_ERR_CERT_KEY', `unsupported key type ${describeKey(key)}: use RSA or EC P-256/P-384/P-521`)
}

/** "EC P-256", "RSA 2048". */
export function describeKey (key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {}
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details.modulusLength ?? '?'}`
  if (key.asymmetricKeyType === 'ec') return `EC ${CURVES[details.namedCurve ?? '']?.curve ?? details.namedCurve ?? '?'}`
  return (key.asymmetricKeyType ?? 'unknown').toUpperCase()
}

export async function signingKey (privateKey: KeyObject): Promise<webcrypto.CryptoKey> {
  const der = privateKey.export({ type: 'pkcs8', format: 'der' })
  return webcrypto.subtle.importKey('pkcs8', der, algorithmsFor(privateKey).importParams, false, ['sign'])
}

export async function publicCryptoKey (key: KeyObject): Promise<webcrypto.CryptoKey> {
  const publicKey = key.type === 'public' ? key : createPublicKey(key)
  const der = publicKey.export({ type: 'spki', format: 'der' })
  return webcrypto.subtle.importKey('spki', der, algorithmsFor(publicKey).importParams, true, ['verify'])
}

export function samePublicKey (a: KeyObject, b: KeyObject): boolean {
  const spki = (k: KeyObject) => (k.type === 'public' ? k : createPublicKey(k)).export({ type: 'spki', format: 'der' })
  return spki(a).equals(spki(b))
}
