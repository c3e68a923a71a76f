import { nowUs } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Checkpointer } from './checkpointer.js';
import type { LedgerStore } from './ledger.js';

/**
 * Retention: at start and every six hours, prune the payloads of records older than
 * `ledger.retention`. The pruning is recorded (ledger.pruned, in the same commit) and followed by a
 * signed checkpoint, so it is itself a signed act; hashes stay, so old checkpoints still verify.
 */
const EVERY_MS = 6 * 3600_000;

export function startRetention(
  ledger: LedgerStore,
  retention: { text: string; ms: number },
  checkpointer: Checkpointer | null,
  log: Logger,
): { stop(): void; runNow(): Promise<number> } {
  const runNow = async (): Promise<number> => {
    try {
      const n = await ledger.prune(nowUs() - retention.ms * 1000, retention.text);
      if (n > 0) {
        log.info({ pruned: n, retention: retention.text }, 'retention pruned old record payloads');
        await checkpointer?.checkpoint();
      }
      return n;
    } catch (e) {
      log.error({ err: (e as Error).message }, 'retention pruning failed; will retry');
      return 0;
    }
  };
  const timer = setInterval(() => void runNow(), EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer), runNow };
}
