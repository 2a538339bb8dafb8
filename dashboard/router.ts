// Hash routes (#/clients/<id>): the server serves one index.html and needs no fallback route.
import { useEffect, useState } from 'preact/hooks'

export function currentRoute (): string[] {
  return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((s) => {
    try { return decodeURIComponent(s) } catch { return s }
  })
}

export function href (...segments: string[]): string {
  return '#/' + segments.map(encodeURIComponent).join('/')
}

export function navigate (...segments: string[]): void {
  location.hash = href(...segments)
}

export function useRoute (): string[] {
  const [route, setRoute] = useState(currentRoute)
  useEffect(() => {
    const onChange = () => setRoute(currentRoute())
    addEventListener('hashchange', onChange)
    return () => removeEventListener('hashchange', onChange)
  }, [])
  return route
}
