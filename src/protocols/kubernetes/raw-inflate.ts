/**
 * Raw deflate (RFC 1951) decoding with a preset window and a bound on the output, synchronous, for
 * the SPDY tap's header blocks: a thin wrapper over pako (zlib's inflate ported to JavaScript).
 *
 * Why pako, not node:zlib's inflateRawSync: on Node 20 (and 24) every inflateRawSync call that fails
 * (a malformed block) leaves its native zlib state behind, about 10 KiB never freed, so a peer that
 * sends garbage to a fresh connection each time grows the gateway without bound. pako's state is
 * plain JavaScript objects: a failure leaves nothing behind.
 *
 * Why pako's zlib-style functions rather than its Inflate class: the class builds a new inflate
 * state per use, 32 KiB window included (~43 KiB of ArrayBuffers); 20,000 malformed blocks in a row
 * took rss to +60..130 MiB on Node 24 before the GC caught up. One state, reset for each block,
 * allocates ~6 KiB per block (rss +2 MiB over those 20,000; +20 MiB at most over 200,000). The loop
 * below is zlib's usual one: fixed-size output chunks, the bound checked after each, so a zlib bomb
 * costs at most `maxOutput` + one chunk of work.
 *
 * As zlib with Z_SYNC_FLUSH: what the input holds is decoded; input that ends mid-block is not an
 * error (what was decoded so far is returned); a final block ends the stream (input after it is
 * ignored); a decoding error is an InflateError with zlib's message.
 */
import {
  Z_BUF_ERROR,
  Z_OK,
  Z_STREAM_END,
  Z_SYNC_FLUSH,
  ZStream,
  zlibInflate,
  zlibInflateInit2,
  zlibInflateReset,
  zlibInflateSetDictionary,
} from 'pako';

export class InflateError extends Error {
  override readonly name = 'InflateError';
}

export class InflateLimitError extends Error {
  override readonly name = 'InflateLimitError';
}

/** output chunk: how far past the bound decoding may run before it is stopped */
const CHUNK = 4096;

/** the one inflate state (calls are synchronous and never nest), reset for each block: raw, 32 KiB window */
const strm = new ZStream();
if (zlibInflateInit2(strm, -15) !== Z_OK) throw new Error('pako inflateInit2 failed');
const chunk = new Uint8Array(CHUNK);
const NO_INPUT = new Uint8Array(0);

/**
 * Decodes raw deflate `input` with `window` (at most 32 KiB) as the history before it. Returns
 * the window followed by the output; more than `maxOutput` bytes of output is an InflateLimitError.
 */
export function inflateRaw(input: Uint8Array, window: Uint8Array, maxOutput: number): Buffer {
  zlibInflateReset(strm);
  if (window.length > 0 && zlibInflateSetDictionary(strm, window) !== Z_OK) throw new InflateError('window not taken');
  const parts: Uint8Array[] = [window];
  let total = 0;
  strm.input = input;
  strm.next_in = 0;
  strm.avail_in = input.length;
  try {
    for (;;) {
      strm.output = chunk;
      strm.next_out = 0;
      strm.avail_out = CHUNK;
      const status = zlibInflate(strm, Z_SYNC_FLUSH);
      // Z_BUF_ERROR: no progress possible (the input is used up), not an error under a sync flush
      if (status !== Z_OK && status !== Z_STREAM_END && status !== Z_BUF_ERROR) {
        throw new InflateError(strm.msg || `inflate status ${status}`);
      }
      total += strm.next_out;
      if (total > maxOutput) throw new InflateLimitError('output over the bound');
      if (strm.next_out > 0) parts.push(chunk.slice(0, strm.next_out));
      if (status !== Z_OK || strm.avail_out > 0) break;
    }
  } finally {
    strm.input = NO_INPUT; // keep no reference to the caller's bytes
  }
  return Buffer.concat(parts, window.length + total);
}
