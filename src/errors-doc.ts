// Renders docs/errors.md from the ERRORS table.
import { ERRORS } from './errors.js'

export function errorDocs (): string {
  return [
    '# Error codes',
    '',
    'Generated from `src/errors.ts` by `npm run docs`; a test fails when this file is stale.',
    'A code is never reused once retired.',
    '',
    '| code | MQTT reason code | meaning |',
    '|---|---|---|',
    ...Object.entries(ERRORS).map(([code, e]) =>
      `| \`${code}\` | ${e.reasonCode === null ? '' : `0x${e.reasonCode.toString(16).padStart(2, '0')}`} | ${e.message} |`),
    '',
  ].join('\n')
}
