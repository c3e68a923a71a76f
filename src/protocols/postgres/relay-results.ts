import { nowUs } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';
import type { PgResultEvent, RecordedError } from '../../core/events.js';
import type { DecodedError } from './backend.js';
import { ResultRecorder } from './result.js';
import type { Expect, PendingRecord, RelayState } from './relay-state.js';

/**
 * How the server's answers close results: a statement's completion, an error (which, in the
 * extended protocol, also skips everything up to the next Sync), and the session's end. Functions
 * over the shared state; the server side clears its current result after each of them.
 */

function recordedError(e: DecodedError): RecordedError {
  const out: RecordedError = { sqlstate: e.code, severity: e.severity, message: e.message };
  if (e.detail !== undefined) out.detail = e.detail;
  return out;
}

export function emit(s: RelayState, r: ResultRecorder, status: PgResultEvent['status'], tag: string | null, error: RecordedError | null): void {
  const event = r.finish(status, tag, error);
  s.records.push({ event, time: nowUs(), ref: null });
  if (error) s.errorsSeen += 1;
}

/** After a statement's completion: simple queries move to their next statement, others are done. */
export function finishResult(s: RelayState, h: Expect): void {
  if (h.k === 'simple') {
    h.index += 1;
    h.result = null;
  } else if (h.k === 'execute' || h.k === 'function') {
    h.result = null;
    if (h.k === 'execute') s.shift();
  }
}

/** An error from the server, recorded against the command it answers (or the last one). */
export function serverError(s: RelayState, e: DecodedError, h: Expect | undefined, blocked: boolean): void {
  const err = recordedError(e);
  const status: PgResultEvent['status'] = blocked ? 'blocked' : 'error';
  if (e.severity === 'FATAL' || e.severity === 'PANIC') {
    s.fatal = new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', e.message, { detail: `${e.code} ${e.message}` });
  }
  if (!h) {
    // an error outside any request: attribute it to the last command, if any
    if (s.lastCommandRef) emit(s, new ResultRecorder(s.lastCommandRef, 0, s.limits, null, []), status, null, err);
    return;
  }
  if (h.k === 'simple') {
    // the rest of a multi-statement query does not run; ReadyForQuery follows
    emit(s, s.resultFor(h)!, status, null, err);
    finishResult(s, h);
    s.copyIn = null;
    return;
  }
  if (h.k === 'function') {
    emit(s, s.resultFor(h)!, status, null, err);
    h.result = null;
    return;
  }
  if (h.k === 'sync') {
    // e.g. a deferred constraint failing at the implicit commit
    if (s.lastCommandRef) emit(s, new ResultRecorder(s.lastCommandRef, 0, s.limits, null, []), status, null, err);
    return;
  }
  // extended protocol: the server skips everything up to the next Sync
  let attributed = false;
  while (s.pending) {
    const x = s.head()!;
    if (x.k === 'sync') break;
    if (x.k === 'execute' || (x.k === 'parse' && x.ref)) {
      const rec = x.k === 'execute' ? s.resultFor(x)! : new ResultRecorder(x.ref!, 0, s.limits, null, []);
      if (!attributed) {
        emit(s, rec, status, null, err);
        attributed = true;
      } else if (x.k === 'execute') {
        // a command the gateway blocked stays "blocked" even when an earlier error skipped it
        const g = x.gate;
        if (g?.state === 'block' && g.error) emit(s, rec, 'blocked', null, recordedError(g.error));
        else emit(s, rec, 'skipped', null, null);
      }
    }
    s.shift();
  }
  if (!attributed && s.lastCommandRef) emit(s, new ResultRecorder(s.lastCommandRef, 0, s.limits, null, []), status, null, err);
  s.copyIn = null;
}

/** The session is ending: results still open are recorded as interrupted. */
export function interruptAll(s: RelayState): PendingRecord[] {
  s.records = [];
  while (s.pending) {
    const h = s.head()!;
    if ((h.k === 'simple' || h.k === 'execute' || h.k === 'function') && h.ref.seq !== null) {
      emit(s, s.resultFor(h)!, 'interrupted', null, null);
    }
    s.shift();
  }
  return s.records;
}
