import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { AuditEvent } from '../../../src/core/events.js';
import { readStatementLog } from '../../../src/dev/statement-log.js';
import { cli, psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

/**
 * Fail-closed on a full disk, a fault root cannot bypass (file modes would not stop root): the
 * SQLite ledger lives on a 2 MiB tmpfs, which the test fills. Statements are then refused with
 * SQLSTATE 58030 and never reach the server (its own statement log says so), new sessions are
 * refused too; once space is freed, new sessions work, are recorded, and the ledger verifies.
 * Needs root (mount -t tmpfs): elsewhere the test is skipped and says why.
 */

const mnt = join(mkdtempSync(join(tmpdir(), 'gatehouse-tmpfs-')), 'ledger');
mkdirSync(mnt);
let mounted = false;
let why = '';
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', mnt], { stdio: 'pipe' });
  mounted = true;
} catch (e) {
  why = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
}

let env: GatewayEnv;
const filler = join(mnt, 'filler');
afterAll(() => {
  if (mounted) execFileSync('umount', [mnt]);
  rmSync(join(mnt, '..'), { recursive: true, force: true });
});

/** Writes zeros until the filesystem says ENOSPC; returns the bytes written. */
function fillDisk(): number {
  const fd = openSync(filler, 'a');
  let total = 0;
  try {
    for (const size of [256 * 1024, 4096, 1]) {
      const block = Buffer.alloc(size);
      for (;;) {
        try {
          total += writeSync(fd, block);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

async function ledgerTexts(): Promise<string[]> {
  const out: string[] = [];
  for await (const r of env.gateway.ledger.scan()) {
    const e = JSON.parse(r.payload) as AuditEvent;
    if (e.type === 'pg.query') out.push(e.text);
  }
  return out;
}

async function resultCount(): Promise<number> {
  let n = 0;
  for await (const r of env.gateway.ledger.scan()) if ((JSON.parse(r.payload) as AuditEvent).type === 'pg.result') n += 1;
  return n;
}

const serverRan = (marker: string) => readStatementLog(env.cluster.logFile).some((s) => s.text.includes(marker));

// durability process writes each record ahead of SQLite (<ledger>.ahead, on the same full disk)
describe.skipIf(!mounted).each(['strict', 'process'] as const)(`the ledger on a full disk (tmpfs), durability %s${mounted ? '' : ` — skipped: mount -t tmpfs failed: ${why}`}`, (durability) => {
  const ledger = join(mnt, `ledger-${durability}.db`);
  beforeAll(async () => {
    env = await startEnv({ config: { ledger: { sqlite: ledger, durability } } });
  });
  afterAll(async () => {
    await env?.dispose();
    // room for the next mode's ledger
    for (const f of readdirSync(mnt)) rmSync(join(mnt, f), { force: true });
  });

  it('refuses statements with 58030 and forwards none of them; recovers for new sessions once space is freed', async () => {
    const token = await env.token('dba-alice');
    const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: token });
    client.on('error', () => undefined);
    await client.connect();
    await client.query("SELECT 'before-full'");
    // results are appended behind the rows: wait until that one is stored, so the next record is a command's
    const deadline = Date.now() + 10_000;
    while (!(await resultCount())) {
      if (Date.now() > deadline) throw new Error('the result of the first statement was never recorded');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(fillDisk()).toBeGreaterThan(0);

    // the WAL may still have room from earlier writes: go on until the store can take no more
    let refused: { code?: string; message: string } | null = null;
    let refusedMarker = '';
    const ok: string[] = [];
    const attempted: string[] = [];
    for (let i = 0; i < 500 && !refused; i++) {
      const marker = `full-disk-${i}-${'p'.repeat(2000)}`;
      const res = await client.query(`SELECT '${marker}'`).then(() => null, (e: { code?: string; message: string }) => e);
      if (res) {
        refused = res;
        refusedMarker = marker;
      } else ok.push(marker);
    }
    expect(refused, 'the full disk never refused a statement').not.toBeNull();
    expect(refused!.code).toBe('58030');
    // either the command's own record failed (it is not run), or a result's did (the session ends)
    expect(refused!.message).toMatch(/cannot record (this command, so it was not run|results; the session ends)/);
    if (/this command/.test(refused!.message)) expect(serverRan(refusedMarker)).toBe(false);
    await client.end().catch(() => undefined);
    attempted.push('before-full', ...ok, refusedMarker);
    console.log(`full disk: ${ok.length} statements went through after the fill, then: ${refused!.message}`);

    // a new session cannot be recorded either, so it is refused
    const meanwhile = await psql(env, token, ['-c', "SELECT 'during-full'"]);
    expect(meanwhile.code).not.toBe(0);
    expect(meanwhile.stderr).toMatch(/ledger/);
    expect(serverRan('during-full')).toBe(false);

    // write-ahead held on the full disk: every statement the server ran is in the ledger
    rmSync(filler);
    const texts = await ledgerTexts();
    const ran = attempted.filter(serverRan);
    expect(ran.length).toBeGreaterThan(0);
    for (const m of ran) expect(texts).toContain(`SELECT '${m}'`);

    const after = await psql(env, await env.token('dba-alice'), ['-At', '-c', "SELECT 'after-free'"]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout.trim()).toBe('after-free');
    expect(await ledgerTexts()).toContain("SELECT 'after-free'");
    const verify = await cli(env, ['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
