import { describe, expect, it } from 'vitest';
import { MAX_HELD_PATH_BYTES, SftpProtocolError, SftpTracker } from '../../../src/protocols/ssh/sftp-tracker.js';
import { packet, str, u32 } from './fuzz-ssh.js';

/**
 * What the SFTP tracker holds, measured (issue 8, "memory bounded"). The tracker holds one packet
 * per direction, and what pending requests and open handles need later: their paths, bounded
 * together by MAX_HELD_PATH_BYTES. And the byte counts of a close that waits for READ replies when
 * the server's next bytes are malformed: kept for end() (issue 8: they were dropped with the call that threw).
 */

describe('SFTP tracker: what it holds', () => {
  it('unanswered OPENs keep their paths only up to MAX_HELD_PATH_BYTES: past it the client is refused (the channel closes)', () => {
    const t = new SftpTracker();
    t.fromClient(packet(1, u32(3)));
    t.fromServer(packet(2, u32(3)));
    const PATH = 200 * 1024;
    globalThis.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    let opened = 0;
    let refused: unknown = null;
    for (let i = 0; i < 500 && refused === null; i++) {
      // a different path each time (no string sharing): 200 KiB of ASCII, the id in front
      const path = `${i}/`.padEnd(PATH, 'p');
      try {
        t.fromClient(packet(3, u32(i + 1), str(path), u32(1), u32(0)));
        opened += 1;
      } catch (e) {
        refused = e;
      }
    }
    expect(refused).toBeInstanceOf(SftpProtocolError);
    expect((refused as Error).message).toContain(`more than ${MAX_HELD_PATH_BYTES} bytes of paths`);
    expect(opened).toBe(Math.floor(MAX_HELD_PATH_BYTES / PATH));
    // was: 500 x 200 KiB = 98 MiB held by the pending table (10,000 x 257 KiB possible)
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(4 * MAX_HELD_PATH_BYTES);
  });

  it('paths are released when their open is answered with an error, or their handle closed: a long session does not run into the bound', () => {
    const t = new SftpTracker();
    t.fromClient(packet(1, u32(3)));
    t.fromServer(packet(2, u32(3)));
    const path = '/srv/'.padEnd(100 * 1024, 'x');
    let id = 1;
    for (let i = 0; i < 300; i++) {
      // 300 x 100 KiB = 30 MiB of paths over the session, never more than one at a time
      const open = id++;
      t.fromClient(packet(3, u32(open), str(path), u32(1), u32(0)));
      if (i % 2 === 0) {
        t.fromServer(packet(101, u32(open), u32(2), str('no such file'), str('')));
      } else {
        t.fromServer(packet(102, u32(open), str(`h${i}`)));
        expect(t.fromClient(packet(4, u32(id++), str(`h${i}`)))).toEqual([{ op: 'close', path, bytesRead: 0, bytesWritten: 0 }]);
      }
    }
  });

  it('a close waiting for READ replies, then the last DATA reply and a malformed packet in one chunk: the call throws, end() returns the close with all 1500 bytes', () => {
    const t = new SftpTracker();
    t.fromClient(packet(1, u32(3)));
    t.fromServer(packet(2, u32(3)));
    expect(t.fromClient(packet(3, u32(1), str('/srv/report.csv'), u32(1), u32(0)))).toEqual([{ op: 'open', path: '/srv/report.csv', flags: ['read'] }]);
    t.fromServer(packet(102, u32(1), str('h1')));
    // a second file still open when the stream breaks: end() closes it too, after the waiting close
    t.fromClient(packet(3, u32(5), str('/srv/other.csv'), u32(2), u32(0)));
    t.fromServer(packet(102, u32(5), str('h2')));
    t.fromClient(packet(6, u32(6), str('h2'), Buffer.alloc(8), str(Buffer.alloc(70, 0x63))));
    t.fromClient(packet(5, u32(2), str('h1'), Buffer.alloc(8), u32(4096)));
    t.fromClient(packet(5, u32(3), str('h1'), Buffer.alloc(8), u32(4096)));
    // a first DATA reply passes (and is forwarded to the agent)
    expect(t.fromServer(packet(103, u32(2), str(Buffer.alloc(1000, 0x61))))).toEqual([]);
    // the client closes while one READ is still due: the close waits for it
    expect(t.fromClient(packet(4, u32(4), str('h1')))).toEqual([]);
    // the last DATA reply and a malformed packet (length 0) in one chunk: the call throws (the gateway drops the chunk)
    const chunk = Buffer.concat([packet(103, u32(3), str(Buffer.alloc(500, 0x62))), Buffer.from([0, 0, 0, 0, 1])]);
    expect(() => t.fromServer(chunk)).toThrow(SftpProtocolError);
    // every further call throws the same error, and does not take the kept close with it
    expect(() => t.fromClient(packet(4, u32(7), str('h2')))).toThrow(/length 0/);
    // was: [] (the close and its 1500 bytes lost). The 500 are counted though the gateway dropped
    // that chunk: the record may say more than passed, never less.
    expect(t.end()).toEqual([
      { op: 'close', path: '/srv/report.csv', bytesRead: 1500, bytesWritten: 0 },
      { op: 'close', path: '/srv/other.csv', bytesRead: 0, bytesWritten: 70 },
    ]);
    expect(t.end()).toEqual([]);
  });
});
