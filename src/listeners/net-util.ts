import type { Server } from 'node:net'
import { CulexError } from '../errors.js'
import type { BindAddress } from '../config/types.js'

/** Binds, turning EADDRINUSE and friends into an error that names the listener and address. */
export function listen (server: Server, bind: BindAddress, backlog: number, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new CulexError('CULEX_ERR_LISTEN', `listener ${id} cannot bind ${bind.host}:${bind.port}: ${err.code ?? err.message}`, { cause: err }))
    }
    server.once('error', onError)
    server.listen({ host: bind.host, port: bind.port, backlog }, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

export function close (server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}
