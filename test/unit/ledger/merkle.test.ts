import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EMPTY_ROOT, MerkleFrontier, inclusionProof, leafHash, nodeHash, rootOf, verifyInclusion } from '../../../src/ledger/merkle.js';

const recordHash = (i: number) => createHash('sha256').update(`record ${i}`).digest('hex');
const leaves = Array.from({ length: 40 }, (_, i) => leafHash(recordHash(i)));

describe('Merkle tree (RFC 9162)', () => {
  it('computes the documented shape for small trees', () => {
    expect(rootOf([])).toEqual(EMPTY_ROOT);
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const [a, b, c] = leaves as [Buffer, Buffer, Buffer];
    expect(rootOf([a])).toEqual(a);
    expect(rootOf([a, b, c])).toEqual(nodeHash(nodeHash(a, b), c));
    expect(leafHash('00'.repeat(32))).toEqual(createHash('sha256').update(Buffer.alloc(33)).digest());
    const h = recordHash(7);
    expect(leafHash(h)).toEqual(createHash('sha256').update(Buffer.from([0])).update(Buffer.from(h, 'hex')).digest());
    expect(nodeHash(a, b)).toEqual(createHash('sha256').update(Buffer.from([1])).update(a).update(b).digest());
  });

  it('a malformed record hash (a tampered file under verification) hashes as its parsed bytes, and does not throw', () => {
    for (const bad of ['', 'zz', 'ab'.repeat(31) + 'zz', 'ab'.repeat(33), 'AB'.repeat(16)]) {
      expect(leafHash(bad), JSON.stringify(bad)).toEqual(createHash('sha256').update(Buffer.from([0])).update(Buffer.from(bad, 'hex')).digest());
    }
  });

  it('the incremental frontier agrees with the recursive definition at every size', () => {
    const f = new MerkleFrontier();
    expect(f.root()).toEqual(EMPTY_ROOT);
    for (let n = 1; n <= leaves.length; n++) {
      f.append(leaves[n - 1]!);
      expect(f.root().equals(rootOf(leaves, 0, n)), `size ${n}`).toBe(true);
    }
  });

  it('every inclusion proof verifies, and fails for another leaf, index or root', () => {
    for (let size = 1; size <= 33; size++) {
      const root = rootOf(leaves, 0, size);
      for (let i = 0; i < size; i++) {
        const proof = inclusionProof(leaves, i, size);
        expect(verifyInclusion(leaves[i]!, i, size, proof, root), `${i}/${size}`).toBe(true);
        expect(verifyInclusion(leaves[(i + 1) % 40]!, i, size, proof, root)).toBe(false);
        if (size > 1) expect(verifyInclusion(leaves[i]!, (i + 1) % size, size, proof, root)).toBe(false);
        expect(verifyInclusion(leaves[i]!, i, size, proof, rootOf(leaves, 0, size + 1))).toBe(false);
      }
    }
  });
});
