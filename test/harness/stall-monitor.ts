/**
 * An event loop that stalls cannot answer vitest's RPC (a 60 s timeout, rpc-ack-guard.ts): a
 * one-second tick notes any stall over 15 s on stderr, with the process and, in a worker, the
 * test running. Loaded in every worker (setupFiles) and in the runner (vitest.config.ts).
 */
export function watchStalls(who: () => string): void {
  const tick = 1000
  let last = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    const stalled = now - last - tick
    if (stalled > 15_000)
      process.stderr.write(
        `stall-monitor: ${who()}: event loop stalled ${(stalled / 1000).toFixed(1)} s (until ${new Date(now).toISOString()})\n`,
      )
    last = now
  }, tick)
  timer.unref()
}
