// @peculiar/x509 with its prerequisites: reflect-metadata must be evaluated before the library loads
// (ESM evaluates these imports in order), and the library signs through Node's WebCrypto.
import 'reflect-metadata'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto)

export { x509 }
