import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { serialize } from 'pg-protocol';
import type { AuditEvent, PgResultEvent } from '../../../src/core/events.js';
import { errorResponse, readyForQuery } from '../../../src/protocols/postgres/backend.js';
import { PgRelay, type ClientOut, type PendingRecord } from '../../../src/protocols/postgres/relay.js';
import { MessageWriter } from '../../../src/protocols/postgres/wire.js';
import { BLOCKED_PORTAL, BLOCKED_SQL, executeMessage, functionCallMessage, parseMessage, queryMessage } from '../../../src/protocols/postgres/frontend.js';
import { initClassifier } from '../../../src/policy/classify.js';
import { commandGate } from '../../../src/policy/gate.js';
import { loadConfigText } from '../../../src/core/config.js';
import { SessionMasker } from '../../../src/masking/session.js';

/** Server-side message builders for the relay's upstream direction. */
const S = {
  parseComplete: () => new MessageWriter().finish('1'),
  bindComplete: () => new MessageWriter().finish('2'),
  rowDescription: (...names: string[]) => {
    const w = new MessageWriter().int16(names.length);
    for (const n of names) w.cstring(n).int32(0).int16(0).int32(25).int16(-1).int32(-1).int16(0);
    return w.finish('T');
  },
  dataRow: (...values: Array<string | null>) => {
    const w = new MessageWriter().int16(values.length);
    for (const v of values) {
      if (v === null) w.int32(-1);
      else w.int32(Buffer.byteLength(v)).raw(Buffer.from(v));
    }
    return w.finish('D');
  },
  complete: (tag: string) => new MessageWriter().cstring(tag).finish('C'),
  error: (code: string, message: string) => errorResponse({ severity: 'ERROR', code, message }),
  ready: () => readyForQuery('I'),
};

const limits = { sampleRows: 2, maxValueBytes: 64, maxParamBytes: 64, maxClientMessageBytes: 1 << 20, maxServerMessageBytes: 1 << 20, maxPreparedStatements: 4 };

const bytesOf = (out: ClientOut[]): Buffer[] => out.map((o) => (Buffer.isBuffer(o) ? o : o.original));

/** Plays the role of the session driver: assigns seqs to command records as the ledger would. */
class Harness {
  readonly relay: PgRelay;
  constructor(gate?: ConstructorParameters<typeof PgRelay>[1]) {
    this.relay = new PgRelay(limits, gate);
  }
  readonly log: Array<{ seq: number; event: AuditEvent }> = [];
  forwarded = Buffer.alloc(0);

  private store(records: PendingRecord[]): void {
    for (const r of records) {
      const seq = this.log.length + 1;
      if (r.ref) r.ref.seq = seq;
      this.log.push({ seq, event: r.event });
    }
  }

  client(...msgs: Buffer[]) {
    const step = this.relay.fromClient(Buffer.concat(msgs));
    this.store(step.records);
    this.forwarded = Buffer.concat([this.forwarded, ...bytesOf(step.out)]);
    return step;
  }

  server(...msgs: Buffer[]) {
    const step = this.relay.fromUpstream(Buffer.concat(msgs));
    this.store(step.records);
    return step;
  }

  results(): PgResultEvent[] {
    return this.log.map((l) => l.event).filter((e): e is PgResultEvent => e.type === 'pg.result');
  }
}

describe('PgRelay (sans-IO)', () => {
  it('records a multi-statement simple query with one result per statement', () => {
    const h = new Harness();
    h.client(serialize.query('SELECT a FROM t; SELECT 1/0; SELECT 2'));
    expect(h.log[0]!.event).toEqual({ type: 'pg.query', text: 'SELECT a FROM t; SELECT 1/0; SELECT 2' });
    h.server(S.rowDescription('a'), S.dataRow('x'), S.dataRow(null), S.dataRow('z'), S.complete('SELECT 3'), S.error('22012', 'division by zero'), S.ready());
    const [first, second] = h.results();
    expect(first).toMatchObject({ statementSeq: 1, index: 0, status: 'ok', tag: 'SELECT 3', rows: 3, columns: ['a'], sample: [['x'], [null]] });
    expect(second).toMatchObject({ statementSeq: 1, index: 1, status: 'error', error: { sqlstate: '22012' } });
    expect(h.results()).toHaveLength(2); // the third statement never ran
  });

  it('ties pipelined extended-protocol results to their executes, and marks the ones skipped after an error', () => {
    const h = new Harness();
    const batch = [
      serialize.parse({ name: 'ins', text: 'INSERT INTO t VALUES ($1)', types: [] }),
      serialize.bind({ statement: 'ins', values: ['one'] }),
      serialize.execute({}),
      serialize.bind({ statement: 'ins', values: ['two'] }),
      serialize.execute({}),
      serialize.bind({ statement: 'ins', values: [null] }),
      serialize.execute({}),
      serialize.sync(),
    ];
    const step = h.client(...batch);
    expect(Buffer.concat(bytesOf(step.out))).toEqual(Buffer.concat(batch));
    const types = h.log.map((l) => l.event.type);
    expect(types).toEqual(['pg.prepare', 'pg.execute', 'pg.execute', 'pg.execute']);
    expect(h.log.filter((l) => l.event.type === 'pg.execute').map((l) => (l.event as { params: unknown }).params)).toEqual([['one'], ['two'], [null]]);
    h.server(S.parseComplete(), S.bindComplete(), S.complete('INSERT 0 1'), S.bindComplete(), S.error('23505', 'duplicate key'), S.ready());
    const res = h.results();
    expect(res.map((r) => [r.statementSeq, r.status])).toEqual([[2, 'ok'], [3, 'error'], [4, 'skipped']]);
    expect(h.relay.runningCommandSeq()).toBeNull();
  });

  it('forwards nothing of a message that breaks the size limit and reports it', () => {
    const h = new Harness();
    const big = serialize.query(`SELECT '${'x'.repeat(2 << 20)}'`);
    const step = h.client(serialize.query('SELECT 1'), big);
    expect(step.fatal?.code).toBe('GH_ERR_FRAME_TOO_LARGE');
    // the first, well-formed query is recorded and forwarded; the oversized one is neither
    expect(h.log.map((l) => l.event.type)).toEqual(['pg.query']);
    expect(Buffer.concat(bytesOf(step.out))).toEqual(serialize.query('SELECT 1'));
  });

  it('a command split across chunks is recorded only when its last byte arrives', () => {
    const h = new Harness();
    const q = serialize.query('DELETE FROM orders');
    const a = h.relay.fromClient(q.subarray(0, 7));
    expect(a.records).toEqual([]);
    const b = h.relay.fromClient(q.subarray(7));
    expect(b.records.map((r) => r.event)).toEqual([{ type: 'pg.query', text: 'DELETE FROM orders' }]);
  });

  it('refuses more prepared statements than the limit', () => {
    const h = new Harness();
    for (let i = 0; i < 4; i++) h.client(serialize.parse({ name: `s${i}`, text: 'SELECT 1', types: [] }));
    const step = h.client(serialize.parse({ name: 's4', text: 'SELECT 1', types: [] }));
    expect(step.fatal?.message).toMatch(/too many prepared statements/);
  });

  it('records results interrupted by the end of the session', () => {
    const h = new Harness();
    h.client(serialize.query('SELECT pg_sleep(100)'));
    h.server(S.rowDescription('pg_sleep'));
    const left = h.relay.interrupt();
    expect(left.map((r) => r.event)).toEqual([expect.objectContaining({ type: 'pg.result', status: 'interrupted', statementSeq: 1 })]);
  });
});

describe('PgRelay guardrails (sans-IO)', () => {
  beforeAll(() => initClassifier());
  const principal = { subject: 'agent', groups: ['ci'], issuer: 'https://idp', clientId: null, tokenId: 'j', tokenSha256: 'x', ciJob: null, expiresAt: null };
  const cfg = loadConfigText(`
identity: { issuer: 'https://idp.example', audience: a }
ledger: { sqlite: ./l.db }
listeners: {}
policies:
  - { name: no-drop, match: { statement: [drop] }, action: block }
  - { name: review-deletes, match: { statement: [delete] }, action: review, reviewers: [dba] }
`, null, {}).config;
  const gate = () => commandGate(cfg, principal, 'orders');

  it('replaces a blocked Query by a stand-in and answers with 42501 in place of the server\'s error', () => {
    const h = new Harness(gate());
    const step = h.client(serialize.query('DROP TABLE orders'));
    expect(Buffer.concat(bytesOf(step.out))).toEqual(queryMessage(BLOCKED_SQL));
    expect(h.log[0]!.event).toMatchObject({ type: 'pg.query', text: 'DROP TABLE orders', decision: { action: 'block', policy: 'no-drop' } });
    const back = h.relay.fromUpstream(Buffer.concat([S.error('42601', 'syntax error at or near "gatehouse_blocked"'), readyForQuery('T')]));
    const toClient = Buffer.concat(back.out);
    expect(toClient.toString('latin1')).toContain('blocked by policy "no-drop"');
    expect(toClient.toString('latin1')).not.toContain('syntax error');
    expect(toClient.subarray(-6)).toEqual(readyForQuery('T'));
    expect(back.records.map((r) => r.event)).toEqual([expect.objectContaining({ type: 'pg.result', status: 'blocked', error: expect.objectContaining({ sqlstate: '42501' }) })]);
  });

  it('never forwards a byte of a blocked command, wherever the chunks split it', () => {
    const drop = serialize.query('DROP TABLE orders');
    const select = serialize.query('SELECT 1');
    const stream = Buffer.concat([select, drop, select]);
    for (let cut = 0; cut <= stream.length; cut++) {
      for (let cut2 = cut; cut2 <= stream.length; cut2 += 7) {
        const h = new Harness(gate());
        h.client(stream.subarray(0, cut));
        h.client(stream.subarray(cut, cut2));
        h.client(stream.subarray(cut2));
        expect(h.forwarded, `cut at ${cut}/${cut2}`).toEqual(Buffer.concat([select, queryMessage(BLOCKED_SQL), select]));
      }
    }
  });

  it('blocks at Parse and at Execute with stand-ins of the same kind; review is held at Execute only', () => {
    const h = new Harness(gate());
    const step = h.client(
      serialize.parse({ name: 'd', text: 'DROP TABLE orders', types: [] }),
      serialize.bind({ statement: 'd' }),
      serialize.execute({}),
      serialize.parse({ name: 'x', text: 'DELETE FROM orders WHERE id = $1', types: [] }),
      serialize.bind({ statement: 'x', values: ['1'] }),
      serialize.execute({}),
      serialize.sync(),
    );
    const out = step.out;
    const held = out.filter((o) => !Buffer.isBuffer(o));
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ kind: 'held', text: 'DELETE FROM orders WHERE id = $1', gate: { state: 'pending' } });
    const sent = Buffer.concat(bytesOf(out));
    expect(sent.includes(parseMessage('d', BLOCKED_SQL))).toBe(true);
    expect(sent.includes(executeMessage(BLOCKED_PORTAL, 0))).toBe(true);
    expect(sent.includes(Buffer.from('DROP TABLE'))).toBe(false);
    // the statement under review went to the server at Parse (nothing runs there)
    expect(sent.includes(serialize.parse({ name: 'x', text: 'DELETE FROM orders WHERE id = $1', types: [] }))).toBe(true);
  });
});

describe('PgRelay masking (sans-IO)', () => {
  const principal = { subject: 'agent', groups: ['ci'], issuer: 'https://idp', clientId: null, tokenId: 'j', tokenSha256: 'x', ciJob: null, expiresAt: null };
  const masker = () => new SessionMasker({
    config: { detectors: [], rules: [
      { name: 'cols', columns: ['email'], detectors: [], exempt: [], strategy: 'partial' },
      { name: 'any', columns: [], detectors: ['card'], exempt: [], strategy: 'redact' },
    ] },
    key: null,
  }, principal, 'orders');

  it('rewrites rows at any chunk split, keeps untouched rows byte for byte, and records only masked samples', () => {
    const result = Buffer.concat([
      S.rowDescription('id', 'email', 'note'),
      S.dataRow('1', 'jane.doe@example.com', 'card 4111 1111 1111 1111 on file'),
      S.dataRow('2', null, 'nothing here'),
      S.complete('SELECT 2'),
      readyForQuery('I'),
    ]);
    const expected = Buffer.concat([
      S.rowDescription('id', 'email', 'note'),
      S.dataRow('1', '****.***@*******.com', 'card **** on file'),
      S.dataRow('2', null, 'nothing here'),
      S.complete('SELECT 2'),
      readyForQuery('I'),
    ]);
    for (let cut = 0; cut <= result.length; cut++) {
      const relay = new PgRelay(limits, undefined, masker());
      relay.fromClient(serialize.query('SELECT * FROM people'));
      const a = relay.fromUpstream(result.subarray(0, cut));
      const b = relay.fromUpstream(result.subarray(cut));
      expect(Buffer.concat([...a.out, ...b.out]), `cut at ${cut}`).toEqual(expected);
      const rec = [...a.records, ...b.records].map((r) => r.event).find((e): e is PgResultEvent => e.type === 'pg.result')!;
      expect(rec.sample).toEqual([['1', '****.***@*******.com', 'card **** on file'], ['2', null, 'nothing here']]);
      expect(rec.masked).toEqual({ rules: ['cols', 'any'], columns: { email: 1, note: 1 } });
    }
  });

  it('partial masking changes a row where it lies when it keeps its length, at any split; the digest is of what was sent', () => {
    const partial = () => new SessionMasker({
      config: { detectors: [], rules: [{ name: 'cols', columns: ['email'], detectors: [], exempt: [], strategy: 'partial' }] },
      key: null,
    }, principal, 'orders');
    const result = Buffer.concat([
      S.rowDescription('id', 'email'),
      S.dataRow('1', 'jane.doe@example.com'),
      // '****' is longer than 'ab': this row is written anew, the others change in place
      S.dataRow('2', 'ab'),
      S.dataRow('3', 'x.y@example.org'),
      S.complete('SELECT 3'),
    ]);
    const expected = Buffer.concat([
      S.rowDescription('id', 'email'),
      S.dataRow('1', '****.***@*******.com'),
      S.dataRow('2', '****'),
      S.dataRow('3', '*.*@*******.org'),
      S.complete('SELECT 3'),
    ]);
    const digest = createHash('sha256').update(expected).digest('hex');
    const whole = Buffer.concat([result, readyForQuery('I')]);
    for (let cut = 0; cut <= whole.length; cut++) {
      const relay = new PgRelay(limits, undefined, partial());
      relay.fromClient(serialize.query('SELECT * FROM people'));
      // fresh chunks, as a socket gives them: the relay may change the bytes of a chunk it reads
      const first = Buffer.from(whole.subarray(0, cut));
      const second = Buffer.from(whole.subarray(cut));
      const a = relay.fromUpstream(first);
      const b = relay.fromUpstream(second);
      expect(Buffer.concat([...a.out, ...b.out]), `cut at ${cut}`).toEqual(Buffer.concat([expected, readyForQuery('I')]));
      const rec = [...a.records, ...b.records].map((r) => r.event).find((e): e is PgResultEvent => e.type === 'pg.result')!;
      expect(rec.sha256, `cut at ${cut}`).toBe(digest);
      expect(rec.bytes).toBe(expected.length);
      expect(rec.masked).toEqual({ rules: ['cols'], columns: { email: 3 } });
      expect(rec.sample).toEqual([['1', '****.***@*******.com'], ['2', '****']]);
    }
    // unsplit, rows that keep their length leave as views of the chunk itself
    const relay = new PgRelay(limits, undefined, partial());
    relay.fromClient(serialize.query('SELECT * FROM people'));
    const chunk = Buffer.concat([S.rowDescription('id', 'email'), S.dataRow('1', 'jane.doe@example.com'), S.dataRow('3', 'x.y@example.org'), S.complete('SELECT 2'), readyForQuery('I')]);
    const out = relay.fromUpstream(chunk).out as Buffer[];
    expect(out).toHaveLength(1);
    expect(out[0]!.buffer).toBe(chunk.buffer);
    expect(out[0]!.includes(Buffer.from('jane'))).toBe(false);
  });

  it('refuses fast-path function calls under masking (their result is one opaque value)', () => {
    const relay = new PgRelay(limits, undefined, masker());
    const call = new MessageWriter().int32(764).int16(0).int16(1).int32(1).raw(Buffer.from('1')).int16(0).finish('F');
    const step = relay.fromClient(call);
    expect(step.records[0]!.event).toMatchObject({ type: 'pg.function_call', decision: { action: 'block', policy: 'masking' } });
    expect(Buffer.concat(step.out.filter((o): o is Buffer => Buffer.isBuffer(o)))).toEqual(functionCallMessage(0));
  });

  it('a result with nothing to mask passes as views of the chunk (no copy)', () => {
    const relay = new PgRelay(limits, undefined, masker());
    relay.fromClient(serialize.query('SELECT 1'));
    const chunk = Buffer.concat([S.rowDescription('id'), S.dataRow('1'), S.complete('SELECT 1'), readyForQuery('I')]);
    const out = relay.fromUpstream(chunk).out;
    // held rows of a scanned column come back as the same bytes
    expect(Buffer.concat(out)).toEqual(chunk);
  });
});

