import type { Writable } from 'node:stream';

/**
 * A peer that stops reading: the gateway stops reading the other side (backpressure), so memory
 * stays flat, but without a deadline both connections would be held forever. This calls `onStall`
 * once when `stream` has had data waiting (its buffer over the high-water mark) and has taken none
 * of it for `ms`. Any drain resets the clock, so a slow reader is not a stalled one; an idle stream
 * with nothing to write never stalls. Returns a function that stops watching (also on close).
 */
export function watchStalledWriter(stream: Writable, ms: number, onStall: () => void): () => void {
  let since: number | null = null;
  const reset = () => {
    since = null;
  };
  const tick = Math.max(20, Math.min(1_000, Math.floor(ms / 4)));
  const timer = setInterval(() => {
    if (!stream.writableNeedDrain) {
      since = null;
      return;
    }
    since ??= Date.now();
    if (Date.now() - since >= ms) {
      stop();
      onStall();
    }
  }, tick);
  timer.unref();
  stream.on('drain', reset);
  const stop = () => {
    clearInterval(timer);
    stream.off('drain', reset);
    stream.off('close', stop);
  };
  stream.once('close', stop);
  return stop;
}
