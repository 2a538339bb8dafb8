// A GET that a page shows: loading, error and data, optionally polled; a failed refresh keeps the last data.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api, type Query } from '../api'

export interface ApiState<T> {
  data: T | undefined
  error: Error | undefined
  loading: boolean
  reload: () => void
}

export function useApi<T> (path: string | null, query?: Query, pollMs?: number): ApiState<T> {
  const [state, setState] = useState<{ data: T | undefined, error: Error | undefined, loading: boolean }>({ data: undefined, error: undefined, loading: path !== null })
  const key = path === null ? null : `${path}?${JSON.stringify(query ?? {})}`
  const seq = useRef(0)
  const load = useCallback(async () => {
    if (path === null) return
    const mine = ++seq.current
    try {
      const data = await api<T>(path, { query })
      if (mine === seq.current) setState({ data, error: undefined, loading: false })
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error: error as Error, loading: false }))
    }
  }, [key]) // query is part of key
  useEffect(() => {
    setState((s) => ({ ...s, loading: true }))
    void load()
    if (!pollMs) return undefined
    const timer = setInterval(() => { void load() }, pollMs)
    return () => { clearInterval(timer); seq.current++ }
  }, [load, pollMs])
  return { ...state, reload: () => { void load() } }
}
