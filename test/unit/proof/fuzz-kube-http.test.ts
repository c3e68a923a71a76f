import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { recordedQuery, upstreamPath } from '../../../src/protocols/http/request-parts.js';
import { runCases } from './fuzz-core.js';
import { fuzzRequestPartsCase } from './fuzz-http.js';
import { fuzzKubeAttributesCase, fuzzSpdyCase, fuzzWebSocketCase } from './fuzz-kube.js';

/**
 * Quick fuzzing of the Kubernetes taps and request parser and of the HTTP request parts (a few
 * seconds each; the long run is test/soak/fuzz-taps.soak.ts). FUZZ_SEED=<n> reproduces a run; a
 * failure names the case's seed.
 */

const BASE = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);

describe(`fuzzing the Kubernetes taps and the HTTP request parts (FUZZ_SEED=${BASE})`, () => {
  it('WebSocket tap: 10000 mutated streams of every subprotocol, whole and chunked', () => {
    let violations = 0;
    let events = 0;
    runCases('websocket', BASE, 10_000, (seed) => {
      const r = fuzzWebSocketCase(seed);
      violations += r.violation ? 1 : 0;
      events += r.events;
    });
    // both ends reached: streams read through and streams refused
    expect(violations).toBeGreaterThan(1_000);
    expect(violations).toBeLessThan(9_000);
    expect(events).toBeGreaterThan(10_000);
  });

  it('SPDY tap: 10000 mutated sessions (compressed header blocks), whole and chunked', () => {
    let violations = 0;
    let events = 0;
    runCases('spdy', BASE, 10_000, (seed) => {
      const r = fuzzSpdyCase(seed);
      violations += r.violation ? 1 : 0;
      events += r.events;
    });
    expect(violations).toBeGreaterThan(1_000);
    expect(violations).toBeLessThan(9_000);
    expect(events).toBeGreaterThan(10_000);
  });

  it('the tap checks bite: a tap that reports a payload twice is caught', async () => {
    const { SpdyTap } = await import('../../../src/protocols/kubernetes/spdy-tap.js');
    const proto = SpdyTap.prototype as unknown as { push: (from: 'client' | 'server', c: Buffer) => void };
    const orig = proto.push;
    let n = 0;
    proto.push = function (this: unknown, from, c) {
      orig.call(this, from, c);
      if (n++ % 3 === 0 && c.length > 1) orig.call(this, from, c.subarray(c.length - 1)); // the bug: a byte read twice
    };
    try {
      expect(() => runCases('spdy', BASE, 2_000, fuzzSpdyCase)).toThrow(/chunking changed|violations|after the violation/);
    } finally {
      proto.push = orig;
    }
  });

  it('Kubernetes request attributes: 100000 random methods, paths and queries', () => {
    const seen = new Set<string>();
    runCases('attributes', BASE, 100_000, (seed) => seen.add(fuzzKubeAttributesCase(seed).split(' ')[0]!));
    for (const v of ['get', 'list', 'watch', 'create', 'delete', 'deletecollection', 'patch', 'update']) expect(seen).toContain(v);
  });

  it('HTTP request parts: 100000 random paths, queries and hosts', () => {
    let errors = 0;
    runCases('request-parts', BASE, 100_000, (seed) => {
      if (fuzzRequestPartsCase(seed).pathError) errors++;
    });
    expect(errors).toBeGreaterThan(1_000);
    expect(errors).toBeLessThan(99_000);
  });

  // Gaps this fuzzing found, fixed: each test states the guarantee.
  it('recordedQuery: a parameter named like an Object.prototype member is recorded as sent', () => {
    // was: {"constructor":[null,"x"]}, and ?__proto__=x dropped from the record
    expect(JSON.parse(JSON.stringify(recordedQuery('constructor=x')))).toEqual({ constructor: 'x' });
    expect(JSON.parse(JSON.stringify(recordedQuery('__proto__=x')))).toEqual({ ['__proto__']: 'x' });
  });

  it('WebSocketTap (base64): a message split after its channel byte reads as when whole', async () => {
    // was: channel byte 0x01 -> channel -47; websocket-tap.ts messageBytes() took `s.channel < 0`
    // for "no channel byte yet", so when the payload comes in a later slice (another TCP chunk, or
    // the next fragment: the sender decides) its first byte is read as the channel instead
    const { WebSocketTap } = await import('../../../src/protocols/kubernetes/websocket-tap.js');
    const run = (parts: Buffer[]) => {
      const ev: string[] = [];
      const tap = new WebSocketTap('v4.base64.channel.k8s.io', {
        data: (s, f, b) => ev.push(`data ${f} ${s} ${b.toString('hex')}`), closed: () => undefined, end: () => undefined, violation: (m) => ev.push(m),
      });
      for (const p of parts) tap.push('server', p);
      return ev;
    };
    // FIN text, 2 bytes: 0x01 '0'. Whole: channel -47 and a lone base64 character, a violation.
    // Split after 0x01: '0' becomes the channel (stdin), no violation (found by fuzz seed 1829856828)
    const frame = Buffer.from('81020130', 'hex');
    expect(run([frame])).toEqual(['websocket server: base64 message not a multiple of 4']);
    expect(run([frame.subarray(0, 3), frame.subarray(3)])).toEqual(run([frame]));
  });

  it('upstreamPath: a dot segment hidden behind an encoded slash is refused; a plain encoded slash is not', () => {
    // was: /api/public/%2e%2e%2fadmin -> decoded /api/public/../admin (an upstream that decodes %2F resolves it to /api/admin)
    for (const p of ['/public/%2e%2e%2fadmin', '/public/..%2Fadmin', '/public/x%2f..%2f..%2fadmin', '/public/.%5cadmin', '/a/%2e%2e%5cadmin']) {
      expect(() => upstreamPath('/api', p), p).toThrow(/dot segment hidden behind an encoded slash/);
    }
    expect(upstreamPath('/api', '/projects/group%2Fproject').decoded).toBe('/api/projects/group/project');
    expect(upstreamPath('/api', '/files/a%2F.hidden').raw).toBe('/api/files/a%2F.hidden');
  });
});
