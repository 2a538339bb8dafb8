// A uPlot line chart of one figure over time; the numbers it draws are also given as text (aria-label).
import { html } from 'htm/preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

const WINDOW_S = 15 * 60

export function LineChart ({ label, times, values, color = '#2f6fdb' }: { label: string, times: number[], values: number[], color?: string }) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  useEffect(() => {
    const el = box.current!
    const chart = new uPlot({
      width: Math.max(el.clientWidth, 200),
      height: 140,
      legend: { show: false },
      cursor: { show: true, drag: { x: false, y: false } },
      // The window is always the last 15 minutes, however few samples there are yet.
      scales: { x: { time: true, range: () => { const now = Date.now() / 1000; return [now - WINDOW_S, now] } },
        y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil((max ?? 0) * 1.1))] } },
      axes: [{ stroke: '#555', grid: { stroke: '#eee' } }, { stroke: '#555', grid: { stroke: '#eee' }, size: 50 }],
      series: [{}, { label, stroke: color, width: 2, fill: `${color}22` }],
    }, [[], []], el)
    plot.current = chart
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(el.clientWidth, 200), height: 140 }))
    resize.observe(el)
    return () => { resize.disconnect(); chart.destroy(); plot.current = null }
  }, [label, color])
  useEffect(() => {
    plot.current?.setData([times.map((ms) => ms / 1000), values])
  }, [times, values])
  const last = values.length ? values[values.length - 1] : undefined
  return html`<figure class="chart"><figcaption>${label}</figcaption><div ref=${box} role="img" aria-label=${`${label}: ${last ?? '—'}`}></div></figure>`
}
