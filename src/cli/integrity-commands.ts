import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { configPath } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import { generateSigningKeys, parsePrivateKey, parsePublicKey } from '../ledger/checkpoint.js';
import { buildEvidence, verifyEvidence } from '../ledger/evidence.js';
import { parseWitness, verifyLedger } from '../ledger/verify-tree.js';
import { loadConfig, openReader, out, progress, resolveSessionId } from './common.js';

/** `gatehouse keys generate`, `verify`, `evidence`, `verify-evidence`: the ledger's integrity tools. */

function readPublicKey(file: string): KeyObject {
  try {
    return parsePublicKey(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new GatehouseError('GH_ERR_USAGE', `--public-key ${file}: ${(e as Error).message}`);
  }
}

export async function keysGenerate(opts: { out: string; force?: boolean }): Promise<number> {
  const priv = join(opts.out, 'ledger-signing.key');
  const pub = join(opts.out, 'ledger-signing.pub');
  if (!opts.force && (existsSync(priv) || existsSync(pub))) {
    throw new GatehouseError('GH_ERR_USAGE', `${priv} or ${pub} exists already; pass --force to replace them (old checkpoints stay verifiable with the old public key only)`);
  }
  mkdirSync(opts.out, { recursive: true });
  const k = generateSigningKeys();
  writeFileSync(priv, k.privatePem, { mode: 0o600 });
  chmodSync(priv, 0o600);
  writeFileSync(pub, k.publicPem);
  out(`wrote ${priv} (private: keep it on the gateway, mode 600) and ${pub} (public: give it to auditors); key id ${k.keyId}`);
  return 0;
}

export async function verify(opts: { config?: string; publicKey?: string; witness?: string }): Promise<number> {
  const loaded = loadConfig(opts.config);
  const cp = loaded.config.ledger.checkpoints;
  let publicKey: KeyObject | null = opts.publicKey ? readPublicKey(opts.publicKey) : null;
  let keySource = 'the given public key';
  if (!publicKey && cp?.signingKeyFile && existsSync(configPath(loaded, cp.signingKeyFile))) {
    const file = configPath(loaded, cp.signingKeyFile);
    try {
      publicKey = createPublicKey(parsePrivateKey(readFileSync(file, 'utf8')));
    } catch (e) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `ledger.checkpoints.signingKeyFile ${file}: not a usable Ed25519 private key: ${(e as Error).message}`);
    }
    keySource = "the gateway's own signing key";
  }
  const witnessFile = opts.witness ?? (cp?.witnessFile ? configPath(loaded, cp.witnessFile) : undefined);
  let witness: ReturnType<typeof parseWitness> = [];
  if (witnessFile && (opts.witness || existsSync(witnessFile))) {
    try {
      witness = parseWitness(readFileSync(witnessFile, 'utf8'), witnessFile);
    } catch (e) {
      throw new GatehouseError('GH_ERR_USAGE', `witness file: ${(e as Error).message}`);
    }
  }
  const reader = await openReader(loaded);
  try {
    const logs = await reader.logs();
    const unknown = [...new Set(witness.map((w) => w.logId))].filter((id) => !logs.includes(id));
    if (unknown.length > 0) {
      out(`LEDGER BROKEN: the witness holds signed checkpoints of log(s) ${unknown.join(', ')}, which the ledger no longer has (deleted)`);
      return 1;
    }
    let failed = false;
    for (const logId of logs) {
      const prefix = logs.length > 1 ? `log ${logId}: ` : '';
      const r = await verifyLedger(reader.forLog(logId), { publicKey, witness }, (n) => progress(`${prefix}verified ${n} records...`));
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      if (!r.ok) {
        out(`${prefix}LEDGER BROKEN at record seq ${r.badSeq}: ${r.problem} (${r.records} records checked before it)`);
        failed = true;
        continue;
      }
      out(`${prefix}ledger ok: ${r.records} records, head seq ${r.headSeq}, head hash ${r.headHash}`);
      out(`${prefix}merkle root ${r.root}; ${r.checkpoints} signed checkpoint(s) ${r.keyId ? `verified with ${keySource} (key id ${r.keyId})` : 'NOT signature-checked (pass --public-key)'}`);
      out(`${prefix}${witnessFile ? `witness ${witnessFile}: ${r.witnessed} checkpoint(s) match` : 'no witness copy checked (a truncation back to an older state needs one: --witness FILE)'}`);
    }
    return failed ? 1 : 0;
  } finally {
    await reader.close();
  }
}

export async function evidence(id: string, opts: { config?: string; out: string }): Promise<number> {
  const reader = await openReader(loadConfig(opts.config));
  try {
    const full = await resolveSessionId(reader, id);
    const log = await reader.sessionLog(full);
    if (log === null) throw new GatehouseError('GH_ERR_SESSION_NOT_FOUND', `session ${full} has no records in the ledger`);
    const bundle = await buildEvidence(reader.forLog(log), full);
    writeFileSync(opts.out, `${JSON.stringify(bundle, null, 2)}\n`);
    out(`wrote ${opts.out}: ${bundle.records.length} records of session ${full}, proven against the checkpoint of ${bundle.checkpoint.treeSize} records signed by key ${bundle.keyId}`);
    return 0;
  } finally {
    await reader.close();
  }
}

export async function verifyEvidenceFile(file: string, opts: { publicKey: string }): Promise<number> {
  const key = readPublicKey(opts.publicKey);
  let bundle: unknown;
  try {
    bundle = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    out(`EVIDENCE INVALID: ${file} cannot be read as JSON (${(e as Error).message})`);
    return 1;
  }
  const r = verifyEvidence(bundle, key);
  if (!r.ok) {
    out(`EVIDENCE INVALID: ${r.problem}`);
    return 1;
  }
  out(`evidence ok: ${r.records} records, each included in the checkpoint of ${r.treeSize} records signed by key ${r.keyId}`);
  return 0;
}
