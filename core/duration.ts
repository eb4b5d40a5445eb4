/** Durations as the policy writes them: 15m, 1h, 72h, 4w, 365d, 30s, 500ms. */
const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }
const RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)$/

export function parseDuration(text: unknown): number | undefined {
  if (typeof text === 'number' && Number.isFinite(text) && text >= 0) return text
  if (typeof text !== 'string') return undefined
  const m = RE.exec(text.trim())
  if (!m) return undefined
  return Number(m[1]) * UNITS[m[2]!]!
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds)
  const abs = Math.abs(seconds)
  if (abs < 1) return `${Math.round(seconds * 1000)} ms`
  if (abs < 120) return `${+seconds.toFixed(1)} s`
  if (abs < 7200) return `${+(seconds / 60).toFixed(1)} min`
  if (abs < 172800) return `${+(seconds / 3600).toFixed(1)} h`
  return `${+(seconds / 86400).toFixed(1)} d`
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}
