// The management HTTP API (EMQX /api/v5 shape). Loaded only when dashboard.listeners.http.enable is set.
export { startApi, buildApi, ManagementApi, OPENAPI_PATHS } from './server.js'
export { ApiKeys, loadApiKeys, parseApiKeys, ROLES, type Role } from './auth.js'
export type { ApiHost } from './common.js'
export type { ApiErrorCode } from '../errors.js'
