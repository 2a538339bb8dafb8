// Seed 000's import rules for a certificate bundle (placeholder: the full rule set is being written).
import { CulexError } from '../errors.js'

export interface BundleCheckInput { keyPem?: string | undefined; chainPem?: string | undefined; caPem?: string | undefined; keyPassword?: string | undefined; now?: Date }
export interface BundleCheckResult { warnings: string[]; key: string | undefined }

export function checkBundle (input: BundleCheckInput): BundleCheckResult {
  for (const [name, pem] of [['key', input.keyPem], ['chain', input.chainPem], ['ca', input.caPem]] as const) {
    if (pem !== undefined && !pem.includes('-----BEGIN ')) throw new CulexError('CULEX_ERR_CERT_INVALID', `rule pem: ${name} is not PEM`)
  }
  return { warnings: [], key: input.keyPem }
}
