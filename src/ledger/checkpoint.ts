import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.js';

/**
 * Signed checkpoints: an Ed25519 signature over {log id, tree size, Merkle root, time}. Whoever holds
 * the public key can check that the ledger's first `treeSize` records are exactly the ones the
 * gateway signed, with nothing but the records (docs/evidence-format.md).
 *
 * The signed message is the ASCII line "gatehouse checkpoint v1\n" followed by the canonical JSON of
 * {"logId":..,"rootHash":..,"time":..,"treeSize":..} (keys sorted, no spaces): the prefix keeps the
 * signature from being valid for any other kind of message.
 */

export interface Checkpoint {
  logId: string;
  treeSize: number;
  /** hex */
  rootHash: string;
  /** µs since the epoch */
  time: number;
}

export interface SignedCheckpoint extends Checkpoint {
  keyId: string;
  /** base64 Ed25519 signature */
  signature: string;
}

const PREFIX = 'gatehouse checkpoint v1\n';

export function checkpointMessage(c: Checkpoint): Buffer {
  return Buffer.from(PREFIX + canonicalJson({ logId: c.logId, rootHash: c.rootHash, time: c.time, treeSize: c.treeSize }), 'utf8');
}

/** The key id: the first 16 hex digits of SHA-256 over the public key's SPKI DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

export function signCheckpoint(c: Checkpoint, privateKey: KeyObject): SignedCheckpoint {
  const signature = sign(null, checkpointMessage(c), privateKey).toString('base64');
  return { ...c, keyId: keyIdOf(createPublicKey(privateKey)), signature };
}

export function verifyCheckpoint(c: SignedCheckpoint, publicKey: KeyObject): boolean {
  try {
    return verify(null, checkpointMessage(c), publicKey, Buffer.from(c.signature, 'base64'));
  } catch {
    return false;
  }
}

export function parsePrivateKey(pem: string): KeyObject {
  const k = createPrivateKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error(`the ledger signing key must be Ed25519, not ${k.asymmetricKeyType}`);
  return k;
}

export function parsePublicKey(pem: string): KeyObject {
  const k = createPublicKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error(`the public key must be Ed25519, not ${k.asymmetricKeyType}`);
  return k;
}

export function generateSigningKeys(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}
