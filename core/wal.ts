/**
 * WAL positions and segment names (pure): LSN text to byte positions, distances, and the
 * segment arithmetic of 16 MiB segments named TTTTTTTTXXXXXXXXYYYYYYYY.
 */

/** initdb's default WAL segment size, which every cluster of the local site uses. */
export const WAL_SEGMENT_BYTES = 16n * 1024n * 1024n

/** LSN text (X/Y) to a byte position. */
export function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split('/')
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`)
}

/** Bytes from b to a (a - b); undefined when either is unknown. */
export function bigIntToLsn(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`
}

export function lsnDiff(a: string | undefined | null, b: string | undefined | null): number | undefined {
  if (!a || !b) return undefined
  return Number(lsnToBigInt(a) - lsnToBigInt(b))
}

/** A segment's global number (timeline left out). */
function segmentNumber(seg: string): bigint {
  return (BigInt(`0x${seg.slice(8, 16)}`) << 8n) + BigInt(`0x${seg.slice(16, 24)}`)
}

/** The LSN just past the end of a WAL segment. */
export function segmentEnd(seg: string): bigint {
  return (BigInt(`0x${seg.slice(8, 16)}`) << 32n) + (BigInt(`0x${seg.slice(16, 24)}`) + 1n) * WAL_SEGMENT_BYTES
}

/** The segment before this one on the same timeline; undefined for the very first. */
export function previousSegment(seg: string): string | undefined {
  const n = segmentNumber(seg)
  if (n === 0n) return undefined
  const p = n - 1n
  const hex = (v: bigint) => v.toString(16).toUpperCase().padStart(8, '0')
  return seg.slice(0, 8) + hex(p >> 8n) + hex(p & 0xffn)
}

/** Segments between two WAL file names (positions are global across timelines; 0 = archive is current). */
export function walSegmentDistance(current: string, archived: string): number | null {
  if (!/^[0-9A-F]{24}/.test(current) || !/^[0-9A-F]{24}/.test(archived)) return null
  return Number(segmentNumber(current) - segmentNumber(archived))
}

/** The LSN where a WAL segment starts. */
export function segmentStart(seg: string): bigint {
  return segmentEnd(seg) - WAL_SEGMENT_BYTES
}

/** The segment after this one on the same timeline. */
export function nextSegment(seg: string): string {
  const n = segmentNumber(seg) + 1n
  const hex = (v: bigint) => v.toString(16).toUpperCase().padStart(8, '0')
  return seg.slice(0, 8) + hex(n >> 8n) + hex(n & 0xffn)
}

/** Missing WAL in an archive: the last segment present, the first one missing, and where the archive resumes. */
export interface WalGap {
  lastPresent: string
  firstMissing: string
  /** the next segment present (on the same or the next timeline); null when nothing follows */
  resumesAt: string | null
}

/**
 * The gaps in an archive's WAL, from the names of the segments it holds (24 hex digits each).
 * Within a timeline every segment number must follow the one before; a timeline that follows
 * another begins at most one segment after the previous timeline's last (it forks inside it).
 */
export function archiveGaps(segments: string[]): WalGap[] {
  const byTimeline = new Map<string, string[]>()
  for (const s of [...new Set(segments)].sort())
    byTimeline.set(s.slice(0, 8), [...(byTimeline.get(s.slice(0, 8)) ?? []), s])
  const gaps: WalGap[] = []
  let previous: string | undefined
  for (const timeline of [...byTimeline.keys()].sort()) {
    for (const seg of byTimeline.get(timeline)!) {
      if (previous && segmentNumber(seg) > segmentNumber(previous) + 1n)
        gaps.push({ lastPresent: previous, firstMissing: nextSegment(previous), resumesAt: seg })
      if (!previous || segmentNumber(seg) > segmentNumber(previous) || seg.slice(0, 8) !== previous.slice(0, 8))
        previous = seg
    }
  }
  return gaps
}

/** The name of the WAL segment on a timeline that holds an LSN. */
export function segmentName(timeline: number, lsn: string): string {
  const n = lsnToBigInt(lsn) / WAL_SEGMENT_BYTES
  const hex = (v: bigint) => v.toString(16).toUpperCase().padStart(8, '0')
  return hex(BigInt(timeline)) + hex(n >> 8n) + hex(n & 0xffn)
}
