// Renders docs/errors.md from the ERRORS table.
import { CONFIGURATION_ERRORS, ERRORS, type ErrorCode } from './errors.js'

export function errorDocs (): string {
  return [
    '# Error codes',
    '',
    'Generated from `src/errors.ts` by `npm run docs`; a test fails when this file is stale.',
    'A code is never reused once retired. `culex start` exits with code 2 on a configuration error (marked',
    'below) and 1 on any other error that stops it.',
    '',
    '| code | MQTT reason code | configuration error (exit 2) | meaning |',
    '|---|---|---|---|',
    ...Object.entries(ERRORS).map(([code, e]) =>
      `| \`${code}\` | ${e.reasonCode === null ? '' : `0x${e.reasonCode.toString(16).padStart(2, '0')}`} | ${CONFIGURATION_ERRORS.has(code as ErrorCode) ? 'yes' : ''} | ${e.message} |`),
    '',
  ].join('\n')
}
