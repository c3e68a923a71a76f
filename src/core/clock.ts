/**
 * Microsecond wall-clock time. Date.now() has millisecond resolution; the ledger promises µs,
 * so we anchor a monotonic high-resolution counter to the wall clock once per process.
 * Values are integers (µs since the Unix epoch) and stay exact in a double until year 2255.
 */
const anchorWallUs = BigInt(Date.now()) * 1000n;
const anchorMono = process.hrtime.bigint();

export function nowUs(): number {
  const elapsedNs = process.hrtime.bigint() - anchorMono;
  return Number(anchorWallUs + elapsedNs / 1000n);
}

/** Monotonic µs, for durations. */
export function monoUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function isoFromUs(us: number): string {
  const ms = Math.floor(us / 1000);
  const frac = String(us % 1_000_000).padStart(6, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/** Parses an ISO-8601 timestamp (or a relative one like "15m", "2h", "7d" meaning that long ago) into µs. */
export function usFromTimeArg(text: string, now = Date.now()): number {
  const rel = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (rel) {
    const n = Number(rel[1]);
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return (now - n * unit) * 1000;
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new TypeError(`not a time: "${text}" (use ISO-8601 such as 2026-11-22T10:00:00Z, or 15m / 2h / 7d ago)`);
  return ms * 1000;
}

/** Parses durations such as "500ms", "30s", "10m", "2h", "400d" into milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new TypeError(`not a duration: "${text}" (use e.g. 500ms, 30s, 10m, 2h, 7d)`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}
