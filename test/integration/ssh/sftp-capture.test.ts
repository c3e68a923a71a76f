/**
 * SftpTracker against real OpenSSH traffic: the real sftp client talks to the real sftp-server
 * (`sftp -D`, no sshd needed) through a small relay that, like the gateway, sees each direction's
 * chunks in the order they pass and logs them. The log is then fed through the tracker, whole and
 * re-cut, and the recorded operations must be exactly what the batch did.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SftpTracker, type SftpOp } from '../../../src/protocols/ssh/sftp-tracker.js';

const SFTP = '/usr/bin/sftp';
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';
const FILE_BYTES = 1024 * 1024;

/**
 * The relay sftp -D runs: spawns sftp-server, pipes both ways, and appends every chunk to the log
 * as byte direction ('C' client->server, 'S' server->client) | uint32 length | bytes.
 */
const RELAY = `
import { spawn } from 'node:child_process';
import { openSync, writeSync } from 'node:fs';
const [server, log] = process.argv.slice(2);
const fd = openSync(log, 'w');
const record = (dir, b) => {
  const h = Buffer.alloc(5);
  h[0] = dir;
  h.writeUInt32BE(b.length, 1);
  writeSync(fd, h);
  writeSync(fd, b);
};
const child = spawn(server, [], { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.on('data', (b) => { record(0x43, b); child.stdin.write(b); });
process.stdin.on('end', () => child.stdin.end());
child.stdout.on('data', (b) => { record(0x53, b); process.stdout.write(b); });
child.on('exit', (code) => process.stdout.end(() => process.exit(code ?? 1)));
`;

interface Chunk {
  from: 'client' | 'server';
  bytes: Buffer;
}

function readLog(file: string): Chunk[] {
  const log = readFileSync(file);
  const chunks: Chunk[] = [];
  for (let at = 0; at < log.length; ) {
    const len = log.readUInt32BE(at + 1);
    chunks.push({ from: log[at] === 0x43 ? 'client' : 'server', bytes: log.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return chunks;
}

function track(chunks: Chunk[], cut: (b: Buffer) => Buffer[] = (b) => [b]): SftpOp[] {
  const t = new SftpTracker();
  const ops: SftpOp[] = [];
  for (const c of chunks) {
    for (const piece of cut(c.bytes)) ops.push(...(c.from === 'client' ? t.fromClient(piece) : t.fromServer(piece)));
  }
  return [...ops, ...t.end()];
}

let dir = '';
let remote = '';
let chunks: Chunk[] = [];

beforeAll(async () => {
  for (const [bin, pkg] of [
    [SFTP, 'openssh-client'],
    [SFTP_SERVER, 'openssh-sftp-server'],
  ] as const) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: apt-get install -y --no-install-recommends ${pkg}`);
  }
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-sftp-')));
  remote = join(dir, 'remote');
  mkdirSync(remote);
  writeFileSync(join(dir, 'relay.mjs'), RELAY);
  writeFileSync(join(dir, 'local.bin'), randomBytes(FILE_BYTES));
  writeFileSync(
    join(dir, 'batch'),
    [
      `put ${dir}/local.bin up.bin`,
      `get up.bin ${dir}/down.bin`,
      'chmod 600 up.bin',
      'rename up.bin moved.bin',
      'ln -s moved.bin sl',
      'ln moved.bin hl',
      'mkdir d',
      'ls',
      'rmdir d',
      'rm sl',
      'rm hl',
      'rm moved.bin',
      '',
    ].join('\n'),
  );
  // sftp -D splits its argument on spaces: the temp paths have none
  const server = `${process.execPath} ${dir}/relay.mjs ${SFTP_SERVER} ${dir}/capture.log`;
  await promisify(execFile)(SFTP, ['-b', join(dir, 'batch'), '-D', server], { cwd: remote, timeout: 60_000 });
  expect(readFileSync(join(dir, 'down.bin')).equals(readFileSync(join(dir, 'local.bin')))).toBe(true);
  chunks = readLog(join(dir, 'capture.log'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('SftpTracker on a real OpenSSH sftp session', () => {
  const expected = (): SftpOp[] => {
    const p = (name: string) => `${remote}/${name}`;
    return [
      { op: 'open', path: p('up.bin'), flags: ['write', 'create', 'truncate'] },
      { op: 'close', path: p('up.bin'), bytesRead: 0, bytesWritten: FILE_BYTES },
      { op: 'open', path: p('up.bin'), flags: ['read'] },
      { op: 'close', path: p('up.bin'), bytesRead: FILE_BYTES, bytesWritten: 0 },
      { op: 'setstat', path: p('up.bin') },
      { op: 'rename', path: p('up.bin'), target: p('moved.bin') },
      { op: 'symlink', path: p('sl'), target: 'moved.bin' },
      { op: 'hardlink', path: p('hl'), target: p('moved.bin') },
      { op: 'mkdir', path: p('d') },
      { op: 'opendir', path: remote },
      { op: 'rmdir', path: p('d') },
      { op: 'remove', path: p('sl') },
      { op: 'remove', path: p('hl') },
      { op: 'remove', path: p('moved.bin') },
    ];
  };

  it('records exactly the batch: paths, flags, and byte counts equal to the file size', () => {
    expect(chunks.length).toBeGreaterThan(10);
    expect(track(chunks)).toEqual(expected());
  });

  it('records the same with every chunk re-cut at random sizes (packets split and packed)', () => {
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const max of [3, 17, 1000, 40_000]) {
      const cut = (b: Buffer) => {
        const out: Buffer[] = [];
        for (let at = 0; at < b.length; ) {
          const n = 1 + Math.floor(rnd() * max);
          out.push(b.subarray(at, at + n));
          at += n;
        }
        return out;
      };
      expect(track(chunks, cut), `pieces up to ${max} bytes`).toEqual(expected());
    }
  });

  it('records the same fed byte by byte', () => {
    const bytes = (b: Buffer) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
    expect(track(chunks, bytes)).toEqual(expected());
  });
});
