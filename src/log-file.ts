// A log file rotated by size, as EMQX's (Erlang logger_std_h): past rotation_size the file is renamed
// <path>.0 (the previous .0 becomes .1, and so on; the oldest beyond rotation_count is overwritten) and a new
// one is started. A single line longer than rotation_size is still written whole.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, write } from 'node:fs'
import { dirname } from 'node:path'
import { Writable } from 'node:stream'

export class RotatingFile extends Writable {
  readonly #path: string
  readonly #maxBytes: number
  readonly #count: number
  #fd: number
  #size: number

  /** `maxBytes` Infinity: never rotated. */
  constructor (path: string, maxBytes: number, count: number) {
    super({ decodeStrings: true })
    this.#path = path
    this.#maxBytes = maxBytes
    this.#count = count
    mkdirSync(dirname(path), { recursive: true })
    this.#fd = openSync(path, 'a')
    this.#size = fstatSync(this.#fd).size
  }

  override _write (chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.#size > 0 && this.#size + chunk.length > this.#maxBytes) {
      try {
        this.#rotate()
      } catch (err) {
        // Logging goes on in the current file rather than stop.
        if (this.#fd < 0) this.#fd = openSync(this.#path, 'a')
        process.emitWarning(`log file ${this.#path} not rotated: ${(err as Error).message}`)
      }
    }
    write(this.#fd, chunk, (err) => {
      if (!err) this.#size += chunk.length
      done(err)
    })
  }

  #rotate (): void {
    closeSync(this.#fd)
    this.#fd = -1
    for (let i = this.#count - 1; i > 0; i--) {
      if (existsSync(`${this.#path}.${i - 1}`)) renameSync(`${this.#path}.${i - 1}`, `${this.#path}.${i}`)
    }
    renameSync(this.#path, `${this.#path}.0`)
    this.#fd = openSync(this.#path, 'a')
    this.#size = 0
  }

  override _final (done: (err?: Error | null) => void): void {
    this.#close()
    done()
  }

  override _destroy (err: Error | null, done: (err?: Error | null) => void): void {
    this.#close()
    done(err)
  }

  #close (): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
  }
}
