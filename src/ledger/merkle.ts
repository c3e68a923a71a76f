import { hash } from 'node:crypto';

/**
 * The Merkle tree over the ledger's records, as in RFC 9162 (Certificate Transparency 2.0) §2.1:
 *   leaf hash  = SHA-256(0x00 || leaf data)          leaf data = the record's 32-byte hash
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH(D[n])  = for n > 1, k = the largest power of two < n: node(MTH(D[0:k]), MTH(D[k:n]))
 *   MTH of the empty tree = SHA-256 of the empty string
 * Written here because it is 100 lines of arithmetic that an auditor must be able to re-implement
 * from docs/evidence-format.md; a dependency would hide it.
 */

const sha = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer');

export const EMPTY_ROOT = sha(new Uint8Array(0));

/** SHA-256(0x00 || the record hash's 32 bytes); one-shot hashing of one buffer, as nodeHash */
export function leafHash(recordHashHex: string): Buffer {
  const b = Buffer.allocUnsafe(33);
  b[0] = 0;
  if (b.write(recordHashHex, 1, 'hex') === 32 && recordHashHex.length === 64) return sha(b);
  // not a well-formed hash (a tampered file under verification): hashed as Buffer.from parses it,
  // so verification reports the mismatch instead of throwing
  return sha(Buffer.concat([b.subarray(0, 1), Buffer.from(recordHashHex, 'hex')]));
}

/** SHA-256(0x01 || left || right) */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(1 + left.length + right.length);
  b[0] = 1;
  b.set(left, 1);
  b.set(right, 1 + left.length);
  return sha(b);
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over leaf hashes [from, to). */
export function rootOf(leaves: readonly Buffer[], from = 0, to = leaves.length): Buffer {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[from]!;
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(rootOf(leaves, from, from + k), rootOf(leaves, from + k, to));
}

/**
 * The tree's right edge: the roots of its perfect subtrees, largest first. Appending is O(log n)
 * and the root of the whole tree is their right-to-left fold, so the gateway keeps the current
 * root without keeping the leaves.
 */
export class MerkleFrontier {
  private readonly stack: Array<{ size: number; hash: Buffer }> = [];
  size = 0;

  append(leaf: Buffer): void {
    let node = { size: 1, hash: leaf };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.size === node.size) {
      const left = this.stack.pop()!;
      node = { size: left.size * 2, hash: nodeHash(left.hash, node.hash) };
    }
    this.stack.push(node);
    this.size += 1;
  }

  root(): Buffer {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let acc = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) acc = nodeHash(this.stack[i]!.hash, acc);
    return acc;
  }
}

/** RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of the first `size` leaves. */
export function inclusionProof(leaves: readonly Buffer[], index: number, size: number): Buffer[] {
  if (index < 0 || index >= size || size > leaves.length) throw new RangeError(`no leaf ${index} in a tree of ${size}`);
  const path = (m: number, from: number, to: number): Buffer[] => {
    const n = to - from;
    if (n === 1) return [];
    const k = largestPowerOfTwoBelow(n);
    return m < k
      ? [...path(m, from, from + k), rootOf(leaves, from + k, to)]
      : [...path(m - k, from + k, to), rootOf(leaves, from, from + k)];
  };
  return path(index, 0, size);
}

/** RFC 9162 §2.1.3.2: checks an audit path against a root. */
export function verifyInclusion(leaf: Buffer, index: number, size: number, proof: readonly Buffer[], root: Buffer): boolean {
  if (index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}
