import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import type { LedgerStore } from '../../../src/ledger/ledger.js';
import { startHttpEnv, type HttpEnv } from '../../support/http-env.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';
import { mutate, prng, type Rng } from '../../unit/proof/fuzz-core.js';
import { sendGarbage } from './garbage.js';

/**
 * Random and mutated bytes against the real SSH and HTTP listeners (the live variant of
 * test/unit/proof/fuzz-*.test.ts, like garbage-connection.test.ts for PostgreSQL): every garbage
 * connection is closed by the gateway, a real client (OpenSSH ssh, curl) is served while the
 * garbage arrives and after it, and the ledger holds no command that the real client did not send.
 */

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const CONNECTIONS = 24;


const noise = (r: Rng, n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
const nameList = (s: string): Buffer => Buffer.concat([u32(s.length), Buffer.from(s)]);

/** RFC 4253 §6 binary packet: uint32 packet_length | byte padding_length | payload | padding */
function sshPacket(payload: Buffer): Buffer {
  const pad = 8 - ((payload.length + 5) % 8) + 4;
  return Buffer.concat([u32(payload.length + pad + 1), Buffer.from([pad]), payload, Buffer.alloc(pad)]);
}

function sshGarbage(r: Rng): Buffer {
  const banner = Buffer.from('SSH-2.0-OpenSSH_9.2p1 fuzz\r\n');
  // KEXINIT: byte 20 | cookie(16) | 10 name-lists | boolean | uint32 0
  const kexinit = sshPacket(Buffer.concat([
    Buffer.from([20]), noise(r, 16),
    ...['curve25519-sha256', 'ssh-ed25519', 'aes128-ctr', 'aes128-ctr', 'hmac-sha2-256', 'hmac-sha2-256', 'none', 'none', '', ''].map(nameList),
    Buffer.from([0]), u32(0),
  ]));
  switch (r.int(6)) {
    case 0:
      return noise(r, 1 + r.int(4096));
    case 1:
      return Buffer.concat([banner, noise(r, 1 + r.int(2048))]);
    case 2: // a packet length the peer must refuse (huge, zero, not a multiple of the block size)
      return Buffer.concat([banner, u32(r.pick([0xffffffff, 0x7fffffff, 0, 3, 35_001])), noise(r, r.int(64))]);
    case 3:
      return Buffer.concat([banner, mutate(r, kexinit, [0])]);
    case 4: // a banner that never ends
      return Buffer.alloc(64 * 1024 + r.int(300 * 1024), 0x41);
    default:
      return mutate(r, Buffer.concat([banner, kexinit]), [banner.length]);
  }
}

function httpGarbage(r: Rng): Buffer {
  const request = Buffer.from([
    `${r.pick(['GET', 'POST', 'PUT', 'DELETE', 'G\x00T', ''])} ${r.pick(['/c/api/items/1', '/c/api/../../etc/passwd', '/c/%zz/x', '*', 'http://evil.test/'])} HTTP/1.1`,
    'Host: 127.0.0.1', r.pick(['Transfer-Encoding: chunked', 'Content-Length: 5', 'Content-Length: 99999999999', 'Content-Length: 5\r\nContent-Length: 6']),
    r.pick(['Authorization: Bearer not.a.token', 'Authorization: Bearer ' + 'A'.repeat(20_000), 'X-Empty:', 'Expect: 100-continue']),
    '', r.pick(['zz\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'hello', '']),
  ].join('\r\n'));
  switch (r.int(5)) {
    case 0:
      return noise(r, 1 + r.int(4096));
    case 1: // a header section over any sane limit
      return Buffer.concat([Buffer.from('GET /c/api/x HTTP/1.1\r\nHost: a\r\nX-Big: '), Buffer.alloc(200 * 1024, 0x61), Buffer.from('\r\n\r\n')]);
    case 2:
      return request;
    default:
      return mutate(r, request, []);
  }
}

async function events(ledger: LedgerStore): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const rec of ledger.scan()) out.push(JSON.parse(rec.payload) as AuditEvent);
  return out;
}

describe(`garbage on the SSH port (FUZZ_SEED=${SEED})`, () => {
  let env: SshEnv;
  beforeAll(async () => {
    env = await startSshEnv();
  });
  afterAll(async () => env?.dispose());

  it('closes each garbage connection, serves ssh exec during and after, records only what the client ran', async () => {
    const token = await env.token('ci-agent');
    const garbage = Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => sendGarbage(env.port, sshGarbage(prng(SEED + i)), 15_000)));
    const during = await env.ssh(token, 'web-1', 'echo during-garbage');
    const results = await garbage;
    const after = await env.ssh(token, 'web-1', 'echo after-garbage');
    expect(during.code, during.stderr).toBe(0);
    expect(during.stdout).toBe('during-garbage\n');
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toBe('after-garbage\n');
    const open = results.map((r, i) => (r.closed ? null : SEED + i)).filter((x) => x !== null);
    expect(open, `garbage connections (case seeds) left open after 15 s, seed ${SEED}`).toEqual([]);
    await env.sessionRecords('ci-agent', 'web-1');
    const all = await events(env.gateway.ledger);
    const execs = all.filter((e) => e.type === 'ssh.exec').map((e) => (e as Extract<AuditEvent, { type: 'ssh.exec' }>).command);
    expect(execs.sort()).toEqual(['echo after-garbage', 'echo during-garbage']);
    // nothing of the garbage started a session: every session is the real client's
    const starts = all.filter((e): e is Extract<AuditEvent, { type: 'session.start' }> => e.type === 'session.start');
    expect(starts.length).toBe(2);
    expect(all.filter((e) => e.type.startsWith('ssh.') && !['ssh.exec', 'ssh.exit'].includes(e.type)).map((e) => e.type)).toEqual([]);
    // and what the target ran: only the two commands
    expect(env.sshd.commands().split('\n').filter((c) => c.includes('garbage'))).toEqual(['echo during-garbage', 'echo after-garbage']);
  });
});

describe(`garbage on the HTTP port (FUZZ_SEED=${SEED})`, () => {
  let env: HttpEnv;
  beforeAll(async () => {
    env = await startHttpEnv();
  });
  afterAll(async () => env?.dispose());

  it('closes each garbage connection, serves curl during and after, records only what the client asked', async () => {
    const token = await env.token('ci-agent');
    const garbage = Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => sendGarbage(env.port, httpGarbage(prng(SEED + i)), 15_000)));
    const during = await env.curl(['-H', `Authorization: Bearer ${token}`, `${env.url}/c/api/during-garbage`]);
    const results = await garbage;
    const after = await env.curl(['-H', `Authorization: Bearer ${token}`, `${env.url}/c/api/after-garbage`]);
    for (const r of [during, after]) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ method: 'GET' });
    }
    const open = results.map((r, i) => (r.closed ? null : SEED + i)).filter((x) => x !== null);
    expect(open, `garbage connections (case seeds) left open after 15 s, seed ${SEED}`).toEqual([]);
    // the upstream saw the two real requests and nothing else
    expect(env.seen.map((s) => s.url)).toEqual(['/api/during-garbage', '/api/after-garbage']);
    await env.sessionRecords('ci-agent', 'api');
    const all = await events(env.gateway.ledger);
    const requests = all.filter((e): e is Extract<AuditEvent, { type: 'http.request' }> => e.type === 'http.request');
    expect(requests.map((e) => e.path)).toEqual(['/api/during-garbage', '/api/after-garbage']);
    // garbage that reached the HTTP layer is at most refused (auth.denied), never a session or a request
    const kinds = new Set(all.map((e) => e.type));
    for (const k of kinds) expect(['session.start', 'session.end', 'http.request', 'http.response', 'auth.denied']).toContain(k);
    expect(all.filter((e) => e.type === 'session.start').length).toBe(2);
  });
});
