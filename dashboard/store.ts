// A value the whole app shares (session, language, toasts): components that read it re-render when it changes.
import { useEffect, useState } from 'preact/hooks'

export interface Store<T> {
  get (): T
  set (value: T): void
  use (): T
}

export function createStore<T> (initial: T): Store<T> {
  let value = initial
  const listeners = new Set<() => void>()
  const store: Store<T> = {
    get: () => value,
    set (next) {
      value = next
      for (const listener of [...listeners]) listener()
    },
    use () {
      const [, rerender] = useState(0)
      useEffect(() => {
        const listener = () => rerender((n) => n + 1)
        listeners.add(listener)
        return () => { listeners.delete(listener) }
      }, [])
      return value
    },
  }
  return store
}
