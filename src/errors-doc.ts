// Renders docs/errors.md from the ERRORS table.
import { CONFIGURATION_ERRORS, ERRORS, httpOf, type ErrorCode } from './errors.js'

export function errorDocs (): string {
  return [
    '# Error codes',
    '',
    'Generated from `src/errors.ts` by `npm run docs`; a test fails when this file is stale.',
    'A code is never reused once retired. `culex start` exits with code 2 on a configuration error (marked',
    'below) and 1 on any other error that stops it. The management API answers an error as EMQX does, with',
    'the HTTP status and the `code` of its `{ code, message }` body given below; any other error that reaches',
    'it is `500 INTERNAL_ERROR` (and logged).',
    '',
    '| code | MQTT reason code | configuration error (exit 2) | management API answer | meaning |',
    '|---|---|---|---|---|',
    ...(Object.keys(ERRORS) as ErrorCode[]).map((code) => {
      const e = ERRORS[code]
      const http = httpOf(code)
      return `| \`${code}\` | ${e.reasonCode === null ? '' : `0x${e.reasonCode.toString(16).padStart(2, '0')}`} | ${CONFIGURATION_ERRORS.has(code) ? 'yes' : ''} | ${http ? `${http.status} \`${http.code}\`` : ''} | ${e.message} |`
    }),
    '',
  ].join('\n')
}
