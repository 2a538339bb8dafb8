// npm run docs: regenerates docs/config.md and docs/errors.md.
import { writeFileSync } from 'node:fs'
import { configDocs } from '../src/config/docs.js'
import { errorDocs } from '../src/errors-doc.js'

writeFileSync(new URL('../docs/config.md', import.meta.url), configDocs())
writeFileSync(new URL('../docs/errors.md', import.meta.url), errorDocs())
