#!/usr/bin/env node
// Command-line entry: `node dist/broker.js -c etc/base.hocon` or `culex start -c etc/base.hocon`.
// src/young-generation.ts runs before the broker's code is even loaded: an ES module's static imports are
// all loaded and compiled before its first line runs, so the command line (src/cli.ts) is imported after.
import './young-generation.js'

await import('./cli.js')
