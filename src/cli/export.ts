import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { isoFromUs, usFromTimeArg } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { LedgerReader } from '../ledger/ledger.js';
import { loadConfig, openReader } from './common.js';

/**
 * `gatehouse export`: streams ledger records as JSON lines for a SIEM, from a time on, with a
 * progress line on a terminal; --follow keeps polling for new records until interrupted. Each line
 * carries the record as stored (log id, seq, µs time, session, type, event, hashes) so a consumer
 * can re-check each log's chain.
 */
export async function exportRecords(opts: { config?: string; since?: string; format: string; follow?: boolean; out?: string; pollMs: string }): Promise<number> {
  if (opts.format !== 'jsonl') throw new GatehouseError('GH_ERR_USAGE', `--format must be jsonl (got "${opts.format}")`);
  const pollMs = Number(opts.pollMs);
  if (!Number.isInteger(pollMs) || pollMs < 50) throw new GatehouseError('GH_ERR_USAGE', `--poll-ms must be an integer of at least 50 (got "${opts.pollMs}")`);
  let sinceUs: number | undefined;
  if (opts.since !== undefined) {
    try {
      sinceUs = usFromTimeArg(opts.since);
    } catch (e) {
      throw new GatehouseError('GH_ERR_USAGE', `--since: ${(e as Error).message}`);
    }
  }
  const reader = await openReader(loadConfig(opts.config));
  const sink: NodeJS.WritableStream | WriteStream = opts.out ? createWriteStream(opts.out, { flags: 'a' }) : process.stdout;
  const tty = process.stderr.isTTY && (opts.out !== undefined || !process.stdout.isTTY);
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    // one cursor per log (SQLite has one; a shared PostgreSQL ledger has one per gateway start)
    const cursors = new Map<string, number>();
    const startOf = async (log: LedgerReader): Promise<number> => {
      if (sinceUs === undefined) return 0;
      const first = await log.firstSeqAt(sinceUs);
      return first === null ? (await log.head()).seq : first - 1;
    };
    let exported = 0;
    for (;;) {
      for (const logId of await reader.logs()) {
        const log = reader.forLog(logId);
        if (!cursors.has(logId)) cursors.set(logId, await startOf(log));
        let after = cursors.get(logId)!;
        for await (const r of log.scan(2000, after)) {
          const line = JSON.stringify({
            logId, seq: r.seq, time: isoFromUs(r.time), timeUs: r.time, sessionId: r.sessionId, type: r.type,
            event: JSON.parse(r.payload) as unknown, prevHash: r.prevHash, hash: r.hash,
          });
          if (!sink.write(`${line}\n`)) await once(sink, 'drain');
          after = r.seq;
          exported += 1;
          if (tty && exported % 1000 === 0) process.stderr.write(`\rexported ${exported} records`);
          if (stopped) break;
        }
        cursors.set(logId, after);
        if (stopped) break;
      }
      if (tty) process.stderr.write(`\rexported ${exported} records${opts.follow ? ', following…' : ''}\x1b[K`);
      if (!opts.follow || stopped) break;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      if (stopped) break;
    }
    if (tty) process.stderr.write('\n');
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (sink !== process.stdout) await new Promise<void>((resolve) => (sink as WriteStream).end(() => resolve()));
    await reader.close();
  }
}
