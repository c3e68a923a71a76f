import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { AuditEvent, PgResultEvent } from '../../../src/core/events.js';
import { APP_PASSWORD, cli, psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

/**
 * Masking through real clients: a table of realistic fake PII (generated here: Luhn-valid cards,
 * mod-97-valid IBANs, SSNs, phones, emails) read with psql, node-postgres in text and binary
 * formats, and COPY. No clear value may reach a masked client or the ledger; the exempt group sees
 * clear values; other columns are untouched.
 */

let env: GatewayEnv;

function luhnCard(body15: string): string {
  const digits = body15.split('').map(Number);
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits[digits.length - 1 - i]!;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body15 + String((10 - (sum % 10)) % 10);
}

function iban(country: string, bban: string): string {
  const rearranged = `${bban}${country}00`.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rem = 0;
  for (const ch of rearranged) rem = (rem * 10 + Number(ch)) % 97;
  return `${country}${String(98 - rem).padStart(2, '0')}${bban}`;
}

interface Person { id: number; name: string; email: string; card: string; ssn: string; phone: string; iban: string; note: string; amount: number }

const PEOPLE: Person[] = Array.from({ length: 40 }, (_, i) => {
  const n = String(i).padStart(2, '0');
  const card = luhnCard(`4539${String(148803436 + i * 7919).padStart(11, '0')}`);
  return {
    id: i + 1,
    name: `Person ${n}`,
    email: `person.${n}@example.com`,
    card: `${card.slice(0, 4)}-${card.slice(4, 8)}-${card.slice(8, 12)}-${card.slice(12)}`,
    ssn: `${String(123 + i).padStart(3, '0')}-${String(10 + i).padStart(2, '0')}-${String(4321 + i).padStart(4, '0')}`,
    phone: `+1 415 555 0${String(100 + i)}`,
    iban: iban('DE', `3704004405${String(32013000 + i).padStart(8, '0')}`),
    note: i % 3 === 0 ? `call me at +1 415 555 0${String(100 + i)} or mail person.${n}@example.com` : `order ${1000 + i} shipped`,
    amount: 1000 + i,
  };
});

const CLEAR = PEOPLE.flatMap((p) => [p.email, p.card, p.card.replace(/-/g, ''), p.ssn, p.iban, p.phone]);

beforeAll(async () => {
  env = await startEnv({
    config: {
      masking: {
        key: 'test-masking-key-0123456789abcdef',
        rules: [
          { name: 'pii-columns', groups: ['ci-agents'], exempt: ['dpo'], columns: ['public.people.email', 'people.card', '*ssn*'], strategy: 'partial' },
          { name: 'iban-pseudonym', groups: ['ci-agents'], columns: ['people.iban'], strategy: 'pseudonym' },
          { name: 'pii-anywhere', exempt: ['dpo'], detectors: ['email', 'card', 'iban', 'phone', 'ssn'], strategy: 'redact' },
        ],
      },
    },
  });
  await env.cluster.query(
    `CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, email text UNIQUE, card varchar(32), ssn text, phone text, iban text, note text, amount int);
     GRANT ALL ON people TO orders_app`,
    [], 'orders',
  );
  for (const p of PEOPLE) {
    await env.cluster.query('INSERT INTO people VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [p.id, p.name, p.email, p.card, p.ssn, p.phone, p.iban, p.note, p.amount], 'orders');
  }
});
afterAll(async () => env?.dispose());

async function client(clientId: string, binary = false): Promise<pg.Client> {
  // `binary` (results in binary format) is a real node-postgres option its type declarations lack
  const c = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token(clientId), binary } as pg.ClientConfig);
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

const leaks = (text: string): string[] => CLEAR.filter((v) => text.includes(v));

async function ledgerText(): Promise<string> {
  const out: string[] = [];
  for await (const r of env.gateway.ledger.scan()) out.push(r.payload);
  return out.join('\n');
}

describe('masking', () => {
  it('psql: no clear value reaches the agent; other columns are exact', async () => {
    const r = await psql(env, await env.token('ci-agent'), ['-A', '-F', '\t', '-c', 'SELECT * FROM people ORDER BY id']);
    expect(r.code, r.stderr).toBe(0);
    expect(leaks(r.stdout)).toEqual([]);
    const lines = r.stdout.trim().split('\n').slice(1, -1).map((l) => l.split('\t'));
    expect(lines).toHaveLength(PEOPLE.length);
    for (const [i, p] of PEOPLE.entries()) {
      const [id, name, email, card, ssn, phone, ibanValue, note, amount] = lines[i]!;
      expect([id, name, amount]).toEqual([String(p.id), p.name, String(p.amount)]);
      expect(card).toBe(`****-****-****-${p.card.slice(-4)}`);
      expect(email).toBe('******.**@*******.com');
      expect(ssn!.endsWith(p.ssn.slice(-4))).toBe(true);
      expect(ibanValue).toMatch(/^iban_[0-9a-f]{12}$/);
      expect(phone).toBe('****');
      if (p.note.startsWith('order')) expect(note).toBe(p.note);
      else expect(note).toBe('call me at **** or mail ****');
    }
  });

  it('pseudonyms are stable, so joins and counts still work', async () => {
    const a = await client('ci-agent');
    const first = (await a.query('SELECT iban FROM people ORDER BY id')).rows.map((r: { iban: string }) => r.iban);
    const again = (await a.query('SELECT iban FROM people ORDER BY id')).rows.map((r: { iban: string }) => r.iban);
    await a.end();
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(PEOPLE.length);
  });

  it('node-postgres in binary format: text columns masked, other columns as a direct connection returns them', async () => {
    const query = { text: 'SELECT id, email, card, amount, note FROM people WHERE id <= $1 ORDER BY id', values: [40] };
    const c = await client('ci-agent', true);
    const r = await c.query(query);
    await c.end();
    // the same client straight to the server: whatever the client makes of binary values, the gateway must not change it
    const direct = new pg.Client({ host: '127.0.0.1', port: env.cluster.port, user: 'orders_app', password: APP_PASSWORD, database: 'orders', binary: true } as pg.ClientConfig);
    await direct.connect();
    const d = await direct.query(query);
    await direct.end();
    expect(r.rows).toHaveLength(40);
    expect(leaks(JSON.stringify(r.rows))).toEqual([]);
    expect(r.rows.map((x: { id: number; amount: number }) => [x.id, x.amount])).toEqual(d.rows.map((x: { id: number; amount: number }) => [x.id, x.amount]));
    for (const [i, row] of r.rows.entries()) {
      const p = PEOPLE[i]!;
      expect(row.card).toBe(`****-****-****-${p.card.slice(-4)}`);
      expect(row.email).toBe('******.**@*******.com');
      if (p.note.startsWith('order')) expect(row.note).toBe(p.note);
      else expect(row.note).toBe('call me at **** or mail ****');
    }
  });

  it('the exempt group sees clear values', async () => {
    const c = await client('dpo-dana');
    const r = await c.query('SELECT email, card, iban FROM people WHERE id = 1');
    await c.end();
    expect(r.rows[0]).toEqual({ email: PEOPLE[0]!.email, card: PEOPLE[0]!.card, iban: PEOPLE[0]!.iban });
  });

  it('detectors alone (no column rules for this group): COPY text output is masked line by line', async () => {
    const c = await client('dba-alice');
    const r = await c.query('SELECT note FROM people WHERE id = 1');
    expect(r.rows[0].note).toBe('call me at **** or mail ****');
    await c.end();
    const copy = await psql(env, await env.token('dba-alice'), ['-c', 'COPY (SELECT id, note, email FROM people ORDER BY id) TO STDOUT']);
    expect(copy.code, copy.stderr).toBe(0);
    expect(leaks(copy.stdout)).toEqual([]);
    expect(copy.stdout.split('\n')[1]).toBe('2\torder 1001 shipped\t****');
  });

  it('COPY TO STDOUT under column rules is refused, never sent in clear', async () => {
    const r = await psql(env, await env.token('ci-agent'), ['-c', 'COPY people TO STDOUT']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('blocked by policy "masking": COPY ... TO STDOUT cannot be masked column by column; use SELECT');
    expect(leaks(r.stdout)).toEqual([]);
  });

  it('errors that echo values are masked (unique violation DETAIL)', async () => {
    const c = await client('ci-agent');
    const err = await c.query('INSERT INTO people (id, name, email) VALUES (999, $1, $2)', ['x', PEOPLE[3]!.email]).catch((e: Error & { detail?: string }) => e);
    await c.end();
    expect((err as { code?: string }).code).toBe('23505');
    expect((err as { detail?: string }).detail).toBe('Key (email)=(****) already exists.');
  });

  it('notices that echo values are masked too', async () => {
    const c = await client('ci-agent');
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(`${n.message} | ${n.detail ?? ''}`));
    await c.query(`DO $$ BEGIN RAISE NOTICE 'found %', (SELECT email FROM people WHERE id = 7) USING DETAIL = 'card ' || (SELECT card FROM people WHERE id = 7); END $$`);
    await c.end();
    expect(notices).toEqual(['found **** | card ****']);
  });

  it('the ledger holds only masked values, and says which rules fired how often', async () => {
    const c = await client('ci-agent');
    await c.query('SELECT * FROM people WHERE email = $1', [PEOPLE[5]!.email]);
    await c.end();
    const all = await ledgerText();
    // dpo-dana's session legitimately saw (and recorded) clear values: leave its records out
    const events: Array<{ session: string; event: AuditEvent }> = [];
    for await (const r of env.gateway.ledger.scan()) events.push({ session: r.sessionId, event: JSON.parse(r.payload) as AuditEvent });
    const dpoSessions = new Set(events.filter((e) => e.event.type === 'session.start' && e.event.identity.subject === 'dpo-dana').map((e) => e.session));
    const others = events.filter((e) => !dpoSessions.has(e.session)).map((e) => JSON.stringify(e.event)).join('\n');
    expect(all.length).toBeGreaterThan(others.length);
    expect(leaks(others)).toEqual([]);
    const results = events.map((e) => e.event).filter((e): e is PgResultEvent => e.type === 'pg.result' && e.masked !== undefined);
    const star = results.find((r) => r.columns?.includes('iban') && r.columns.includes('note'));
    expect(star?.masked).toEqual({
      rules: expect.arrayContaining(['pii-columns', 'iban-pseudonym', 'pii-anywhere']),
      columns: expect.objectContaining({ email: 40, card: 40, ssn: 40, iban: 40, phone: 40 }),
    });
  });

  it('the session report says what was masked, by which rules', async () => {
    let sessionId = '';
    for await (const r of env.gateway.ledger.scan()) {
      const e = JSON.parse(r.payload) as AuditEvent;
      // the psql SELECT * of the first test
      if (e.type === 'pg.result' && e.masked?.columns.iban === 40 && e.columns?.includes('note')) {
        sessionId = r.sessionId;
        break;
      }
    }
    const r = await cli(env, ['report', sessionId]);
    expect(r.code, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.includes('masked by')) ?? '';
    for (const rule of ['pii-columns', 'iban-pseudonym', 'pii-anywhere']) expect(line).toContain(rule);
    expect(line).toMatch(/email 40.*iban 40/);
    expect(leaks(r.stdout)).toEqual([]);
  });
});

