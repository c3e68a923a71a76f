import { GatehouseError } from '../core/errors.js';
import type { AuditEvent } from '../core/events.js';
import { canonicalJson, GENESIS_HASH, recordHash } from './canonical.js';
import type { LedgerHead, NewRecord } from './ledger.js';
import { leafHash, MerkleFrontier } from './merkle.js';

/**
 * The write side shared by every ledger store: appends that arrive while a commit is in flight
 * join the next one (group commit: many sessions share one durable commit); sequence numbers and
 * the hash chain are assigned here when a batch is dispatched and become the head, and the Merkle
 * tree's new right edge, only once the store's commit succeeded. A failed commit leaves both as
 * they were. The store only has to write a batch atomically.
 */

export interface SequencedRecord {
  seq: number;
  time: number;
  sessionId: string;
  event: AuditEvent;
  /** canonical JSON of the event, as hashed */
  payload: string;
  prevHash: string;
  hash: string;
}

/** Writes one batch in one durable transaction; rejects (with a reason) when it could not. */
export type CommitBatch<X> = (records: SequencedRecord[], extras: X[]) => Promise<void>;

interface Pending<X> {
  records: readonly NewRecord[];
  extra: X | undefined;
  behind: boolean;
  resolve: (seqs: number[]) => void;
  reject: (e: GatehouseError) => void;
}

/** Most records one commit carries; more wait for the next commit. */
const MAX_BATCH_RECORDS = 2000;
/** How long records of what already happened wait for a write-ahead commit to ride with. */
export const BEHIND_DELAY_MS = 5;

export class GroupCommitter<X> {
  private readonly queue: Array<Pending<X>> = [];
  private inFlight = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private readonly frontier = new MerkleFrontier();
  private readonly listeners = new Set<(size: number) => void>();
  /** queued appends that must not wait (write-ahead records: a client waits on them) */
  private urgent = 0;
  private behindTimer: NodeJS.Timeout | null = null;
  /** a flush waiting for the end of this turn of the event loop (see dispatch) */
  private flushSoon: NodeJS.Immediate | null = null;

  constructor(
    private readonly commit: CommitBatch<X>,
    private head: LedgerHead = { seq: 0, hash: GENESIS_HASH },
    committedHashes: Iterable<string> = [],
  ) {
    for (const h of committedHashes) this.frontier.append(leafHash(h));
  }

  /**
   * `behind`: records of what already happened (a result, an exit), which nobody waits on before
   * going on. They are not committed on their own at once but ride with the next write-ahead
   * commit, or go after BEHIND_DELAY_MS: a client's next statement then waits for one commit,
   * not for the previous result's commit and then its own. Order is kept either way (one queue).
   */
  append(records: readonly NewRecord[], extra?: X, behind = false): Promise<number[]> {
    if (this.closed) return Promise.reject(new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the ledger is closed'));
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ records, extra, behind, resolve, reject });
      if (!behind) this.urgent += 1;
      this.dispatch();
    });
  }

  treeHead(): { size: number; root: string } {
    return { size: this.frontier.size, root: this.frontier.root().toString('hex') };
  }

  onCommit(listener: (size: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Refuses new appends and waits for queued ones to finish. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inFlight || this.queue.length > 0) {
      const idle = new Promise<void>((r) => this.idleWaiters.push(r));
      this.dispatch();
      await idle;
    }
  }

  private dispatch(): void {
    if (this.inFlight) return;
    if (this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    if (this.urgent === 0 && !this.closed) {
      // only records of what already happened: give a write-ahead append a moment to join them
      this.behindTimer ??= setTimeout(() => {
        this.behindTimer = null;
        this.flushBehind();
      }, BEHIND_DELAY_MS);
      return;
    }
    // Not at once but at the end of this turn of the event loop: the statements of every client
    // whose socket the same poll returned then share one batch (one write of the ahead log, one
    // hand-off to the writer thread, one commit) instead of a batch each. 16 clients, select-only:
    // about 10 % more TPS with durability process, up to 16 % strict; one client: no change in
    // latency (docs/performance.md, run 9).
    this.flushSoon ??= setImmediate(() => {
      this.flushSoon = null;
      this.flushBehind();
    });
  }

  private flushBehind(): void {
    if (this.behindTimer) {
      clearTimeout(this.behindTimer);
      this.behindTimer = null;
    }
    if (this.flushSoon) {
      clearImmediate(this.flushSoon);
      this.flushSoon = null;
    }
    if (this.inFlight || this.queue.length === 0) return;
    const batch: Array<Pending<X>> = [];
    let count = 0;
    while (this.queue.length > 0 && (count === 0 || count + this.queue[0]!.records.length <= MAX_BATCH_RECORDS)) {
      const p = this.queue.shift()!;
      if (!p.behind) this.urgent -= 1;
      batch.push(p);
      count += p.records.length;
    }
    const rows: SequencedRecord[] = [];
    const seqsPerAppend: number[][] = [];
    let { seq, hash: prev } = this.head;
    try {
      for (const p of batch) {
        const seqs: number[] = [];
        for (const r of p.records) {
          seq += 1;
          const payload = canonicalJson(r.event);
          const hash = recordHash({ seq, time: r.time, sessionId: r.sessionId, payload, prevHash: prev });
          rows.push({ seq, time: r.time, sessionId: r.sessionId, event: r.event, payload, prevHash: prev, hash });
          seqs.push(seq);
          prev = hash;
        }
        seqsPerAppend.push(seqs);
      }
    } catch (e) {
      // an event that cannot be encoded is a programming error; fail its batch, keep the head
      for (const p of batch) p.reject(new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', `cannot encode record: ${(e as Error).message}`));
      this.dispatch();
      return;
    }
    this.inFlight = true;
    const next = { seq, hash: prev };
    const extras = batch.flatMap((p) => (p.extra === undefined ? [] : [p.extra]));
    this.commit(rows, extras).then(
      () => {
        this.inFlight = false;
        this.head = next;
        for (const r of rows) this.frontier.append(leafHash(r.hash));
        batch.forEach((p, i) => p.resolve(seqsPerAppend[i]!));
        for (const l of this.listeners) l(this.frontier.size);
        this.dispatch();
      },
      (e: unknown) => {
        this.inFlight = false;
        const err = new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger cannot record right now', {
          detail: e instanceof Error ? e.message : String(e),
        });
        for (const p of batch) p.reject(err);
        this.dispatch();
      },
    );
  }
}
