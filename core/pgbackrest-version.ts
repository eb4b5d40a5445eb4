/**
 * Which pgBackRest may read a repo: a backup written by a newer pgBackRest than this machine's is
 * refused, not guessed at. 2.46 changed the block-incremental format (its release notes: block
 * incremental lists), so 2.45 (Debian's) cannot read what PGO 5.7's 2.54 writes with
 * repo-block; nothing promises an older reader any later format either.
 */

/** Dotted versions compared numerically ("2.54.1" > "2.45"): negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d) return d
  }
  return 0
}

/** Why this pgBackRest (`own`) must not read a repo's backups, if any was written by a newer one. */
export function newerWriterProblem(
  repo: number,
  own: string,
  backups: { label: string; writtenBy?: string }[],
): string | undefined {
  const newer = backups.filter((b) => b.writtenBy && compareVersions(b.writtenBy, own) > 0)
  if (!newer.length) return undefined
  const newest = newer
    .map((b) => b.writtenBy!)
    .sort(compareVersions)
    .at(-1)!
  const labels = newer.map((b) => b.label)
  const shown = labels.length > 3 ? `${labels.slice(0, 3).join(', ')} and ${labels.length - 3} more` : labels.join(', ')
  return `repo${repo} holds backups written by pgBackRest ${newest} (${shown}); this machine's pgBackRest is ${own}, which cannot be trusted to read them (2.46 changed the block-incremental format): run the runbooks from their image (it carries PGO's pgBackRest), or install pgBackRest ${newest} or later here`
}
