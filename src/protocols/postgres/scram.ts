import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { GatehouseError } from '../../core/errors.js';

/**
 * SCRAM-SHA-256 client (RFC 5802, RFC 7677) for the gateway's own login to the upstream server.
 * Written here because pg keeps its implementation internal (pg/lib/crypto/sasl.js is not a public
 * API) and the gateway drives the upstream handshake itself. No channel binding (gs2 header "n,,").
 * The server signature is checked, so a server that does not know the password is detected.
 */

const pbkdf2Async = promisify(pbkdf2);
const MAX_ITERATIONS = 1_000_000;

/** SaltedPassword is costly (PBKDF2); the salt is fixed per role, so results are cached. */
const saltedCache = new Map<string, Buffer>();

async function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const key = `${createHash('sha256').update(password).digest('hex')}:${salt.toString('base64')}:${iterations}`;
  const hit = saltedCache.get(key);
  if (hit) return hit;
  const value = await pbkdf2Async(password, salt, iterations, 32, 'sha256');
  if (saltedCache.size > 256) saltedCache.clear();
  saltedCache.set(key, value);
  return value;
}

const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

function bad(why: string): never {
  throw new GatehouseError('GH_ERR_UPSTREAM_AUTH', 'the target server sent an invalid SCRAM message', { detail: why });
}

function attributes(msg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) bad(`malformed attribute "${part.slice(0, 20)}"`);
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

export class ScramClient {
  readonly mechanism = 'SCRAM-SHA-256';
  private readonly nonce = randomBytes(18).toString('base64');
  private readonly clientFirstBare = `n=,r=${this.nonce}`;
  private serverSignature: Buffer | null = null;

  constructor(private readonly password: string) {}

  /** The SASLInitialResponse payload. */
  clientFirst(): string {
    return `n,,${this.clientFirstBare}`;
  }

  /** Given the server-first-message, the client-final-message. */
  async clientFinal(serverFirst: string): Promise<string> {
    const a = attributes(serverFirst);
    const nonce = a.get('r');
    const salt = a.get('s');
    const iter = Number(a.get('i'));
    if (!nonce || !nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) bad('server nonce does not extend ours');
    if (!salt) bad('no salt');
    if (!Number.isInteger(iter) || iter < 1 || iter > MAX_ITERATIONS) bad(`unacceptable iteration count ${a.get('i')}`);
    const salted = await saltedPassword(this.password, Buffer.from(salt, 'base64'), iter);
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ signature[i]!;
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server-final-message; throws when the server did not prove it knows the password. */
  verifyServerFinal(serverFinal: string): void {
    const a = attributes(serverFinal);
    if (a.has('e')) bad(`server error ${a.get('e')}`);
    const v = a.get('v');
    if (!v || !this.serverSignature) bad('no server signature');
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature)) bad('server signature does not match');
  }
}

/** PostgreSQL's md5 password response: "md5" + md5(md5(password + user) + salt). */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return `md5${createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex')}`;
}
