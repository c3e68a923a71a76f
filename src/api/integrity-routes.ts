import { randomUUID, type KeyObject } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { isoFromUs, nowUs } from '../core/clock.js';
import type { LedgerCheckpointEvent } from '../core/events.js';
import type { Logger } from '../core/log.js';
import type { SignedCheckpoint } from '../ledger/checkpoint.js';
import type { LedgerStore } from '../ledger/ledger.js';
import { verifyLedger, type LedgerVerifyResult } from '../ledger/verify-tree.js';
import { principalOf, requireRole, type ConsoleRoles } from './roles.js';
import { errorResponses } from './schemas.js';

/**
 * The integrity page's data: the ledger head and the latest signed checkpoints, and a verification
 * run (the same check as `gatehouse verify`: chain, Merkle roots against every signed checkpoint and
 * the witness copies). A run walks the whole ledger, so it runs in the background, one at a time:
 * POST starts one (or joins the one running) and waits up to `wait` seconds; a run that finished in
 * time answers 200 with its result, one still going answers 202 with its progress, and
 * GET /api/integrity/verify shows the latest run.
 */

export interface VerificationKeys {
  publicKey: KeyObject | null;
  /** where the public key came from, for the result ('the gateway\'s own signing key') */
  keySource: string | null;
  witness: SignedCheckpoint[];
  witnessFile: string | null;
}

export interface IntegrityRoutesDeps {
  ledger: LedgerStore;
  roles: ConsoleRoles | null;
  /** read at each run (the witness file grows) */
  verificationKeys(): Promise<VerificationKeys>;
  log: Logger;
}

interface LogResult {
  logId: string;
  result: LedgerVerifyResult;
}

interface Run {
  id: string;
  state: 'running' | 'ok' | 'broken' | 'failed';
  startedBy: string;
  startedAt: number;
  finishedAt: number | null;
  /** records checked so far (progress; counted in steps of 10,000 while the chain is walked) */
  checked: number;
  logs: LogResult[];
  keyId: string | null;
  keySource: string | null;
  witnessFile: string | null;
  /** failed: why the run could not complete (the ledger could not be read) */
  error: string | null;
  done: Promise<void>;
}

const MAX_WAIT_S = 30;

function runJson(r: Run) {
  return {
    id: r.id, state: r.state, startedBy: r.startedBy, startedAt: isoFromUs(r.startedAt), finishedAt: r.finishedAt === null ? null : isoFromUs(r.finishedAt),
    checked: r.checked, keyId: r.keyId, keySource: r.keySource, witnessFile: r.witnessFile, error: r.error,
    logs: r.logs.map((l) => ({ logId: l.logId, ...l.result })),
  };
}

const runSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' }, state: { type: 'string', enum: ['running', 'ok', 'broken', 'failed'] }, startedBy: { type: 'string' },
    startedAt: { type: 'string' }, finishedAt: { type: ['string', 'null'] }, checked: { type: 'integer' }, keyId: { type: ['string', 'null'] },
    keySource: { type: ['string', 'null'] }, witnessFile: { type: ['string', 'null'] }, error: { type: ['string', 'null'] },
    logs: { type: 'array', items: { type: 'object', additionalProperties: true, properties: { logId: { type: 'string' }, ok: { type: 'boolean' } } } },
  },
} as const;

export function integrityRoutes(app: FastifyInstance, deps: IntegrityRoutesDeps): void {
  const { ledger } = deps;
  const auditor = requireRole(deps.roles, 'auditor');
  let current: Run | null = null;

  function start(by: string): Run {
    if (current?.state === 'running') return current;
    const run: Run = {
      id: randomUUID(), state: 'running', startedBy: by, startedAt: nowUs(), finishedAt: null, checked: 0, logs: [], keyId: null, keySource: null,
      witnessFile: null, error: null, done: Promise.resolve(),
    };
    run.done = (async () => {
      try {
        const keys = await deps.verificationKeys();
        run.keySource = keys.publicKey ? keys.keySource : null;
        run.witnessFile = keys.witnessFile;
        let before = 0;
        for (const logId of await ledger.logs()) {
          const result = await verifyLedger(ledger.forLog(logId), { publicKey: keys.publicKey, witness: keys.witness }, (n) => (run.checked = before + n));
          before += result.records;
          run.checked = before;
          if (result.ok) run.keyId = result.keyId;
          run.logs.push({ logId, result });
        }
        run.state = run.logs.every((l) => l.result.ok) ? 'ok' : 'broken';
      } catch (e) {
        run.state = 'failed';
        run.error = (e as Error).message;
        deps.log.error({ err: (e as Error).message }, 'api: ledger verification could not complete');
      } finally {
        run.finishedAt = nowUs();
      }
    })();
    current = run;
    return run;
  }

  app.get('/api/integrity', {
    onRequest: auditor,
    schema: {
      summary: 'The ledger head, its Merkle tree, the latest signed checkpoints and the latest verification run', role: 'auditor',
      querystring: { type: 'object', additionalProperties: false, properties: { checkpoints: { type: 'integer', minimum: 0, maximum: 100, default: 10 } } },
      response: {
        200: {
          type: 'object',
          properties: {
            logId: { type: 'string' },
            head: { type: 'object', properties: { seq: { type: 'integer' }, hash: { type: 'string' } } },
            tree: { type: ['object', 'null'], properties: { size: { type: 'integer' }, root: { type: 'string' } } },
            checkpoints: {
              type: 'object',
              properties: {
                count: { type: 'integer' },
                latest: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      seq: { type: 'integer' }, time: { type: 'string' }, logId: { type: 'string' }, treeSize: { type: 'integer' }, rootHash: { type: 'string' },
                      keyId: { type: 'string' }, signature: { type: 'string' },
                    },
                  },
                },
              },
            },
            verification: { anyOf: [runSchema, { type: 'null' }] },
          },
        },
        ...errorResponses(),
      },
    },
  }, async (req) => {
    const { checkpoints: n } = req.query as { checkpoints: number };
    const all = await ledger.checkpoints();
    const latest = (n === 0 ? [] : all.slice(-n)).reverse().map((r) => {
      const c = r.event as LedgerCheckpointEvent;
      return { seq: r.seq, time: isoFromUs(c.time), logId: c.logId, treeSize: c.treeSize, rootHash: c.rootHash, keyId: c.keyId, signature: c.signature };
    });
    let tree: { size: number; root: string } | null = null;
    try {
      tree = ledger.treeHead();
    } catch {
      tree = null; // a read-only store keeps no tree
    }
    return {
      logId: await ledger.logId(), head: await ledger.head(), tree, checkpoints: { count: all.length, latest },
      verification: current ? runJson(current) : null,
    };
  });

  app.post('/api/integrity/verify', {
    onRequest: auditor,
    schema: {
      summary: 'Verify the whole ledger (chain, Merkle roots, signed checkpoints, witness copies): 200 with the result when done within `wait`, else 202 with progress',
      role: 'auditor',
      querystring: { type: 'object', additionalProperties: false, properties: { wait: { type: 'integer', minimum: 0, maximum: MAX_WAIT_S, default: 10, description: 'seconds to wait for the result' } } },
      response: { 200: { type: 'object', properties: { verification: runSchema } }, 202: { type: 'object', properties: { verification: runSchema } }, ...errorResponses() },
    },
  }, async (req, reply) => {
    const { wait } = req.query as { wait: number };
    const run = start(principalOf(req).subject);
    if (wait > 0 && run.state === 'running') {
      const timer = new AbortController();
      await Promise.race([run.done, delay(wait * 1000, undefined, { signal: timer.signal }).catch(() => undefined)]);
      timer.abort();
    }
    if (run.state === 'running') reply.code(202).header('location', '/api/integrity/verify');
    return { verification: runJson(run) };
  });

  app.get('/api/integrity/verify', {
    onRequest: auditor,
    schema: {
      summary: 'The latest verification run (running with its progress, or its result)', role: 'auditor',
      response: { 200: { type: 'object', properties: { verification: { anyOf: [runSchema, { type: 'null' }] } } }, ...errorResponses() },
    },
  }, async () => ({ verification: current ? runJson(current) : null }));
}
