import { appendFileSync, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { nowUs } from '../core/clock.js';
import { configPath, type LoadedConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { parsePrivateKey, signCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import type { LedgerStore } from './ledger.js';

/**
 * Signs a checkpoint of the ledger's Merkle tree every `everyRecords` new records or `every`
 * milliseconds, whichever comes first, and once more on close. Each checkpoint is appended to the
 * ledger itself (type ledger.checkpoint, session '') and copied to the witnesses outside the
 * gateway host (a JSON-lines file, an HTTP endpoint), so a later truncation or rewrite of the store
 * is detectable against a copy the gateway cannot change.
 */

export interface CheckpointOptions {
  key: KeyObject;
  everyRecords: number;
  everyMs: number;
  witnessFile: string | null;
  witnessUrl: string | null;
}

export function checkpointOptions(loaded: LoadedConfig): CheckpointOptions | null {
  const c = loaded.config.ledger.checkpoints;
  if (!c) return null;
  let pem: string;
  try {
    pem = c.signingKey ?? readFileSync(configPath(loaded, c.signingKeyFile!), 'utf8');
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `ledger.checkpoints.signingKeyFile: ${(e as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = parsePrivateKey(pem);
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `ledger.checkpoints: not a usable Ed25519 private key: ${(e as Error).message}`);
  }
  return {
    key,
    everyRecords: c.everyRecords,
    everyMs: c.every,
    witnessFile: c.witnessFile ? configPath(loaded, c.witnessFile) : null,
    witnessUrl: c.witnessUrl ?? null,
  };
}

export class Checkpointer {
  private lastSize = 0;
  /** seq of our own last checkpoint record */
  private lastRecordSeq = -1;
  private running: Promise<void> | null = null;
  /** a trigger arrived while a checkpoint was being signed */
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private logId = '';

  constructor(
    private readonly ledger: LedgerStore,
    private readonly opts: CheckpointOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.logId = await this.ledger.logId();
    const last = (await this.ledger.checkpoints()).at(-1);
    if (last?.event.type === 'ledger.checkpoint') {
      this.lastSize = last.event.treeSize;
      this.lastRecordSeq = last.seq;
    }
    this.unsubscribe = this.ledger.onCommit((size) => {
      if (size - this.lastSize >= this.opts.everyRecords) void this.checkpoint();
    });
    this.timer = setInterval(() => void this.checkpoint(), this.opts.everyMs);
    this.timer.unref();
    await this.checkpoint();
  }

  /** Signs the current tree unless nothing but our own last checkpoint was added since. */
  checkpoint(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.sign().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.checkpoint();
      }
    });
    return this.running;
  }

  private async sign(): Promise<void> {
    const { size, root } = this.ledger.treeHead();
    // nothing new, or nothing but our own last checkpoint record
    if (size === 0 || size === this.lastSize || (size === this.lastRecordSeq && this.lastRecordSeq === this.lastSize + 1)) return;
    const signed = signCheckpoint({ logId: this.logId, treeSize: size, rootHash: root, time: nowUs() }, this.opts.key);
    try {
      const [seq] = await this.ledger.append([{ sessionId: '', time: signed.time, event: { type: 'ledger.checkpoint', ...signed } }]);
      this.lastSize = size;
      this.lastRecordSeq = seq!;
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'could not record a ledger checkpoint');
      return;
    }
    this.log.debug({ treeSize: size, rootHash: root }, 'ledger checkpoint signed');
    await this.witness(signed);
  }

  private async witness(c: SignedCheckpoint): Promise<void> {
    const line = JSON.stringify(c);
    if (this.opts.witnessFile) {
      try {
        appendFileSync(this.opts.witnessFile, `${line}\n`);
      } catch (e) {
        this.log.error({ file: this.opts.witnessFile, err: (e as Error).message }, 'could not write the witness copy of a checkpoint');
      }
    }
    if (this.opts.witnessUrl) {
      try {
        const res = await fetch(this.opts.witnessUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: line, signal: AbortSignal.timeout(5_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      } catch (e) {
        this.log.error({ url: this.opts.witnessUrl, err: (e as Error).message }, 'could not send a checkpoint to the witness');
      }
    }
  }

  /** Stops the schedule and signs a final checkpoint (clean shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.running;
    await this.checkpoint();
  }
}
