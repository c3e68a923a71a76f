import type { RecordedValue } from './api.js';

// Display helpers shared by the pages.

export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  // ISO in UTC with milliseconds: unambiguous for people in different zones comparing notes
  return d.toISOString().replace('T', ' ').replace('Z', ' UTC');
}

export function duration(us: number | null | undefined): string {
  if (us === null || us === undefined) return '—';
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)} ms`;
  const s = us / 1e6;
  if (s < 120) return `${s.toFixed(2)} s`;
  return `${Math.floor(s / 60)} m ${Math.round(s % 60)} s`;
}

export function left(ms: number): string {
  if (ms <= 0) return 'expired';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

export function value(v: RecordedValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return v;
  if ('hex' in v) return `\\x${v.hex}`;
  return `${v.prefix}… (${v.bytes} bytes, sha256 ${v.sha256.slice(0, 12)}…)`;
}

export function StatusBadge({ status }: { status: string }) {
  const cls = status === 'denied' || status === 'error' || status === 'blocked' ? 'bad' : status === 'active' || status === 'pending' || status === 'running' ? 'live' : 'ok';
  return <span className={`badge ${cls}`}>{status}</span>;
}
