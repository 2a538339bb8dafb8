export { MemoryRetainedStore, type RetainedStore } from './retained.js'
export { MemorySessionStore, type SessionStore } from './sessions.js'
