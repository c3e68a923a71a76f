/** The slow-peer tests wait for a counter to stop moving: that is how a throttled sender is seen. */

/** Polls `read` every 20 ms until it has not changed for `quietMs` (or `deadlineMs` passed); returns its last value. */
export async function settled(read: () => number, quietMs: number, deadlineMs: number): Promise<{ value: number; quiet: boolean }> {
  const end = Date.now() + deadlineMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    const v = read();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return { value: v, quiet: true };
  }
  return { value: last, quiet: false };
}
