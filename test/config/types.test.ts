import t from 'tap'
import { parseBind, parseDuration, parseSize } from '../../src/config/types.js'

t.test('parseDuration', async (t) => {
  const table: [unknown, number | undefined][] = [
    ['15s', 15_000],
    ['500ms', 500],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1.5s', 1500],
    ['1h1m1s1ms', 3_661_001],
    [' 10S ', 10_000],
    ['100', 100],
    ['0', 0],
    [100, 100],
    [0, 0],
    [-1, undefined],
    [Number.NaN, undefined],
    [Number.POSITIVE_INFINITY, undefined],
    ['', undefined],
    ['s', undefined],
    ['15x', undefined],
    ['-5s', undefined],
    ['1h 30m', undefined],
    ['15 s', undefined],
    ['infinity', undefined],
    [true, undefined],
    [null, undefined],
    [undefined, undefined],
  ]
  for (const [input, expected] of table) t.equal(parseDuration(input), expected, `${JSON.stringify(input)} → ${expected}`)
})

t.test('parseSize', async (t) => {
  const table: [unknown, number | undefined][] = [
    ['1MB', 1024 * 1024],
    ['64KB', 65_536],
    ['1gb', 1024 ** 3],
    ['2b', 2],
    ['512', 512],
    ['10 kb', 10_240],
    ['1.5KB', 1536],
    [' 256 ', 256],
    [512, 512],
    [0, 0],
    [1.5, undefined],
    [-1, undefined],
    ['-1KB', undefined],
    ['1TB', undefined],
    ['KB', undefined],
    ['', undefined],
    ['1 MB B', undefined],
    [{}, undefined],
    [null, undefined],
  ]
  for (const [input, expected] of table) t.equal(parseSize(input), expected, `${JSON.stringify(input)} → ${expected}`)
})

t.test('parseBind', async (t) => {
  const table: [string | number, { host: string, port: number } | undefined][] = [
    ['0.0.0.0:1883', { host: '0.0.0.0', port: 1883 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    [':1883', { host: '0.0.0.0', port: 1883 }],
    ['1883', { host: '0.0.0.0', port: 1883 }],
    [1883, { host: '0.0.0.0', port: 1883 }],
    [' 8083 ', { host: '0.0.0.0', port: 8083 }],
    ['localhost:8883', { host: 'localhost', port: 8883 }],
    ['[::1]:8883', { host: '::1', port: 8883 }],
    ['[::]:1883', { host: '::', port: 1883 }],
    ['127.0.0.1:65535', { host: '127.0.0.1', port: 65535 }],
    ['127.0.0.1:65536', undefined],
    ['::1:1883', undefined],
    ['[::1]', undefined],
    ['1.2.3.4:', undefined],
    ['host', undefined],
    ['host:port', undefined],
    ['', undefined],
    [-1, undefined],
  ]
  for (const [input, expected] of table) t.same(parseBind(input), expected, `${JSON.stringify(input)} → ${JSON.stringify(expected)}`)
})
