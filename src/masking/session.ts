import type { MaskingConfig, MaskingRule } from '../core/config.js';
import type { Principal } from '../identity/principal.js';
import { BUILTIN_DETECTORS, customDetector, type Detector } from './detectors.js';
import { maskMatches, maskWhole, scan, type MaskKey, type Strategy } from './strategies.js';

/**
 * One session's masking: the rules that apply to its principal and connection, turned into a plan
 * per result shape (which column is masked whole, which are scanned by detectors) and applied to
 * values. Pure; protocols feed it column descriptions and values. A column rule follows the
 * column (an alias does not hide it), not an expression over it (`lower(email)`): pair column rules
 * with detectors where that matters.
 */

/** Where a result column comes from, when the catalog knows it. */
export interface ColumnOrigin {
  schema: string;
  table: string;
  column: string;
}

/** (table OID, attribute number) -> origin, from the target's catalog; null when unknown. */
export type Catalog = (tableOid: number, attnum: number) => ColumnOrigin | null;

/** What a result column looks like on the wire. */
export interface ResultColumn {
  name: string;
  tableOid: number;
  column: number;
  typeOid: number;
  /** 0 text, 1 binary */
  format: number;
}

type Masking = Exclude<Strategy, 'null'> | 'null';

interface DetectorGroup {
  strategy: Masking;
  rule: string;
  detectors: Detector[];
  /** per detector, its name for the byte test (see passes) */
  needs: string[];
  /** the group's byte test folded into thresholds: can any of its detectors match? */
  gate: GroupGate;
  /** the detectors worth running, by the bitmask of passed tests */
  subsets: Map<number, Detector[]>;
}

interface GroupGate {
  email: boolean;
  /** the fewest digits any of the group's digit detectors needs (Infinity: none) */
  minDigits: number;
  ipv4: boolean;
  ipv6: boolean;
  jwt: boolean;
  cloud: boolean;
  pem: boolean;
  /** a custom detector: always scan */
  always: boolean;
}

const MIN_DIGITS: Record<string, number> = { card: 13, iban: 8, ssn: 9, phone: 7 };

function groupGate(needs: readonly string[]): GroupGate {
  return {
    email: needs.includes('email'),
    minDigits: Math.min(...needs.map((n) => MIN_DIGITS[n] ?? Infinity)),
    ipv4: needs.includes('ipv4'),
    ipv6: needs.includes('ipv6'),
    jwt: needs.includes('jwt'),
    cloud: needs.includes('cloud_key'),
    pem: needs.includes('private_key'),
    always: needs.some((n) => n.startsWith('custom:')),
  };
}

function gatePasses(g: GroupGate, s: ByteStats): boolean {
  return g.always || (g.email && s.at) || s.digits >= g.minDigits || (g.ipv4 && s.digits >= 4 && s.dots >= 3)
    || (g.ipv6 && s.colons >= 2) || (g.jwt && s.jwt && s.dots >= 2) || (g.cloud && s.cloud) || (g.pem && s.pem);
}

/** What the byte prefilter counts in one value (one pass, no string made). */
interface ByteStats {
  digits: number;
  at: boolean;
  colons: number;
  dots: number;
  /** "eyJ": a base64url-encoded JSON object (a JWT header) */
  jwt: boolean;
  /** "AK", "AS", "AI", "gh", "xox", "ecret", "ECRET": where cloud key prefixes (and labels) start */
  cloud: boolean;
  /** "-----": a PEM armour line */
  pem: boolean;
}

/**
 * The least each built-in detector needs to see before it can match (checked on bytes, before a
 * value is decoded): most values of most columns fail all of them and are never scanned. A
 * detector without an entry (a custom one) always runs.
 */
function passes(detector: string, s: ByteStats): boolean {
  switch (detector) {
    case 'email': return s.at;
    case 'card': return s.digits >= 13;
    case 'iban': return s.digits >= 8;
    case 'ssn': return s.digits >= 9;
    case 'phone': return s.digits >= 7;
    case 'ipv4': return s.digits >= 4 && s.dots >= 3;
    case 'ipv6': return s.colons >= 2;
    case 'jwt': return s.jwt && s.dots >= 2;
    case 'cloud_key': return s.cloud;
    case 'private_key': return s.pem;
    default: return true;
  }
}

function byteStats(b: Buffer, start: number, end: number, out: ByteStats): ByteStats {
  let digits = 0;
  let colons = 0;
  let dots = 0;
  let at = false;
  let jwt = false;
  let cloud = false;
  let pem = false;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x30 && c <= 0x39) digits++;
    else if (c === 0x40) at = true;
    else if (c === 0x3a) colons++;
    else if (c === 0x2e) dots++;
    else if (c === 0x65) jwt ||= b[i + 1] === 0x79 && b[i + 2] === 0x4a; // eyJ
    else if (c === 0x41) cloud ||= b[i + 1] === 0x4b || b[i + 1] === 0x53 || b[i + 1] === 0x49; // AK AS AI
    else if (c === 0x67) cloud ||= b[i + 1] === 0x68 || b[i + 1] === 0x69; // gh, gi(thub_pat_)
    else if (c === 0x78) cloud ||= b[i + 1] === 0x6f && b[i + 2] === 0x78; // xox
    else if (c === 0x2d) pem ||= b[i + 1] === 0x2d && b[i + 2] === 0x2d && b[i + 3] === 0x2d && b[i + 4] === 0x2d; // -----
    else if (c === 0x63 || c === 0x43) cloud ||= ((b[i + 1] ?? 0) | 0x20) === 0x72 && ((b[i + 2] ?? 0) | 0x20) === 0x65 && ((b[i + 3] ?? 0) | 0x20) === 0x74; // (se)cret
  }
  out.digits = digits;
  out.colons = colons;
  out.dots = dots;
  out.at = at;
  out.jwt = jwt;
  out.cloud = cloud;
  out.pem = pem;
  return out;
}

/** What a column's type allows: text content can change; otherwise (and for JSON) only NULL. */
interface TypeFlags {
  textual: boolean;
  replaceable: boolean;
  /** binary jsonb: a version byte, then the text */
  binaryJsonb: boolean;
}

export type ColumnAction =
  | ({ kind: 'whole'; rule: string; strategy: Masking; label: string } & TypeFlags)
  | ({ kind: 'scan' } & TypeFlags);

function typeFlags(col: ResultColumn): TypeFlags {
  const binaryJsonb = col.format === 1 && col.typeOid === JSONB;
  const textual = TEXT_TYPES.has(col.typeOid) || (col.typeOid === JSONB && col.format === 0) || binaryJsonb;
  // JSON must stay valid JSON: a masked JSON value becomes NULL
  return { textual, replaceable: textual && col.typeOid !== JSONB && col.typeOid !== 114, binaryJsonb };
}

/** What to do with value i of a row, and what column it is. */
export interface RowPlan {
  action(i: number): ColumnAction | null;
  column(i: number): ResultColumn;
}

/** A same-length rewrite of a value's bytes where they were copied (no allocation). */
export type InPlaceMask = (out: Buffer, start: number, end: number) => void;

/** What masking did to one result: the rules that fired and values masked per column. */
export interface MaskTally {
  rules: Set<string>;
  columns: Map<string, number>;
}

export const newTally = (): MaskTally => ({ rules: new Set(), columns: new Map() });

/** Types whose text and binary forms are the same string: their content can be changed in place. */
const TEXT_TYPES = new Set([25, 1043, 1042, 19, 18, 114, 142, 705]);
const JSONB = 3802;

export interface MaskingSetup {
  config: MaskingConfig;
  key: MaskKey | null;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

interface ColumnMatcher {
  rule: string;
  strategy: Masking;
  test(col: ResultColumn, origin: ColumnOrigin | null): boolean;
}

function columnMatcher(rule: MaskingRule, spec: string): ColumnMatcher {
  const parts = spec.split('.');
  const base = { rule: rule.name, strategy: rule.strategy as Masking };
  if (parts.length === 1) {
    const re = globToRegExp(spec);
    return { ...base, test: (col, origin) => re.test(col.name) || (origin !== null && re.test(origin.column)) };
  }
  const [schema, table, column] = parts.length >= 3 ? [parts[0]!, parts[1]!, parts.slice(2).join('.')] : [null, parts[0]!, parts[1]!];
  const col = globToRegExp(column);
  const tab = table.toLowerCase();
  const sch = schema?.toLowerCase() ?? null;
  return {
    ...base,
    test: (_c, origin) => origin !== null && origin.table.toLowerCase() === tab && (sch === null || origin.schema.toLowerCase() === sch) && col.test(origin.column),
  };
}

/** The tables named by column rules (for the catalog lookup), as { schema|null, table }. */
export function ruleTables(config: MaskingConfig): Array<{ schema: string | null; table: string }> {
  const out = new Map<string, { schema: string | null; table: string }>();
  for (const r of config.rules) {
    for (const spec of r.columns) {
      const parts = spec.split('.');
      if (parts.length === 2) out.set(`.${parts[0]}`, { schema: null, table: parts[0]! });
      else if (parts.length >= 3) out.set(`${parts[0]}.${parts[1]}`, { schema: parts[0]!, table: parts[1]! });
    }
  }
  return [...out.values()];
}

export class SessionMasker {
  private readonly columnRules: ColumnMatcher[] = [];
  private readonly groups: DetectorGroup[] = [];
  private readonly plans = new Map<string, RowPlan | null>();

  constructor(
    setup: MaskingSetup,
    principal: Principal,
    connection: string,
    private catalog: Catalog = () => null,
  ) {
    const custom = new Map(setup.config.detectors.map((d) => [d.name, customDetector(d.name, d.pattern, 'u')]));
    for (const r of setup.config.rules) {
      if (r.connections && !r.connections.includes(connection)) continue;
      if (r.groups && !r.groups.some((g) => principal.groups.includes(g))) continue;
      if (r.exempt.some((g) => principal.groups.includes(g))) continue;
      for (const spec of r.columns) this.columnRules.push(columnMatcher(r, spec));
      const detectors = r.detectors.map((d) => (BUILTIN_DETECTORS as Record<string, Detector>)[d] ?? custom.get(d)).filter((d): d is Detector => d !== undefined);
      if (detectors.length > 0) {
        // a custom detector can match anything: its group is always scanned
        const needs = r.detectors.filter((d) => (BUILTIN_DETECTORS as Record<string, Detector>)[d] !== undefined || custom.has(d)).map((d) => (custom.has(d) ? `custom:${d}` : d));
        this.groups.push({ strategy: r.strategy as Masking, rule: r.name, detectors, needs, gate: groupGate(needs), subsets: new Map() });
      }
    }
    this.key = setup.key;
  }

  private readonly key: MaskKey | null;
  private readonly stats: ByteStats = { digits: 0, at: false, colons: 0, dots: 0, jwt: false, cloud: false, pem: false };

  /** False when no rule applies to this session: results pass untouched. */
  get active(): boolean {
    return this.columnRules.length > 0 || this.groups.length > 0;
  }

  /** True when detectors run over free text (what SSH output and HTTP bodies can be masked by). */
  get hasDetectors(): boolean {
    return this.groups.length > 0;
  }

  /** Gives the target's catalog (for `schema.table.column` rules), once it is read. */
  useCatalog(catalog: Catalog): void {
    this.catalog = catalog;
    this.plans.clear();
  }

  get hasColumnRules(): boolean {
    return this.columnRules.length > 0;
  }

  /**
   * Rows whose columns were never described (a client that executes without Describe): column
   * rules cannot be checked, so with any in force every value is withheld (NULL); detectors still
   * scan text values.
   */
  planForUnknown(): RowPlan | null {
    if (!this.active) return null;
    const flags = typeFlags(UNKNOWN_COLUMN);
    const action: ColumnAction = this.columnRules.length > 0
      ? { kind: 'whole', rule: '(undescribed columns)', strategy: 'null', label: '?', ...flags }
      : { kind: 'scan', ...flags };
    return { action: () => action, column: () => UNKNOWN_COLUMN };
  }

  /** What to do with each column of a result; null when nothing in it is masked. Cached per shape. */
  planFor(columns: readonly ResultColumn[]): RowPlan | null {
    if (!this.active) return null;
    const shape = columns.map((c) => `${c.name}\u0000${c.tableOid}\u0000${c.column}\u0000${c.typeOid}\u0000${c.format}`).join('\u0001');
    if (this.plans.has(shape)) return this.plans.get(shape)!;
    let any = false;
    const actions = columns.map((c): ColumnAction | null => {
      const origin = c.tableOid !== 0 ? this.catalog(c.tableOid, c.column) : null;
      const rule = this.columnRules.find((m) => m.test(c, origin));
      if (rule) {
        any = true;
        return { kind: 'whole', rule: rule.rule, strategy: rule.strategy, label: origin?.column ?? c.name, ...typeFlags(c) };
      }
      if (this.groups.length > 0) {
        any = true;
        return { kind: 'scan', ...typeFlags(c) };
      }
      return null;
    });
    const plan: RowPlan | null = any ? { action: (i) => actions[i] ?? null, column: (i) => columns[i] ?? UNKNOWN_COLUMN } : null;
    if (this.plans.size > 1000) this.plans.clear();
    this.plans.set(shape, plan);
    return plan;
  }

  /**
   * Masks one value of a row (its bytes are body[start, end)): the new value, null for SQL NULL, or
   * undefined when it stays. A masked value keeps its column's type valid: text types change
   * content, other types become NULL.
   */
  maskField(plan: RowPlan, i: number, body: Buffer, start: number, end: number, tally: MaskTally): Buffer | null | undefined | InPlaceMask {
    const action = plan.action(i);
    if (!action) return undefined;
    const col = plan.column(i);
    const masked = this.maskOne(action, col, body, start, end, tally);
    if (masked !== undefined) tally.columns.set(col.name, (tally.columns.get(col.name) ?? 0) + 1);
    return masked;
  }

  /** undefined: unchanged */
  private maskOne(action: ColumnAction, col: ResultColumn, v: Buffer, start: number, end: number, tally: MaskTally): Buffer | null | undefined | InPlaceMask {
    const { textual, replaceable, binaryJsonb } = action;
    if (action.kind === 'whole') {
      tally.rules.add(action.rule);
      if (action.strategy === 'null' || !replaceable) return null;
      if (action.strategy === 'redact') return REDACTED;
      if (action.strategy === 'partial' && isAscii(v, start, end)) return end - start <= 4 ? REDACTED : starAllButLast4;
      return Buffer.from(this.whole(v.toString('utf8', start, end), action.strategy, action.label), 'utf8');
    }
    // a binary value of a non-text type: nothing a detector can read
    if (col.format !== 0 && !textual) return undefined;
    const stats = byteStats(v, start, end, this.stats);
    if (!this.anyPasses(stats)) return undefined;
    const next = this.scanText(v.toString('utf8', binaryJsonb ? start + 1 : start, end), tally, stats);
    if (next === null) return undefined;
    if (next === NULL_VALUE || !replaceable) return null;
    // a value that was one sensitive item (an email column) needs no new buffer
    return next === '****' ? REDACTED : Buffer.from(next, 'utf8');
  }

  private whole(text: string, strategy: Exclude<Strategy, 'null'>, label: string): string {
    if (strategy === 'pseudonym' && !this.key) return maskWhole(text, 'redact', NO_KEY, label);
    return maskWhole(text, strategy, this.key ?? NO_KEY, label);
  }

  /** Detectors over one text; the masked text, NULL_VALUE for a null strategy, or null when nothing matched. */
  private scanText(text: string, tally: MaskTally, stats?: ByteStats): string | typeof NULL_VALUE | null {
    let current = text;
    let changed = false;
    for (const g of this.groups) {
      const matches = scan(current, stats && !changed ? this.worthRunning(g, stats) : g.detectors);
      if (matches.length === 0) continue;
      tally.rules.add(g.rule);
      if (g.strategy === 'null') return NULL_VALUE;
      const strategy = g.strategy === 'pseudonym' && !this.key ? 'redact' : g.strategy;
      current = maskMatches(current, matches, strategy, this.key ?? NO_KEY);
      changed = true;
    }
    return changed ? current : null;
  }

  private anyPasses(stats: ByteStats): boolean {
    for (const g of this.groups) if (gatePasses(g.gate, stats)) return true;
    return false;
  }

  /** The group's detectors whose byte test passed (the same few subsets recur: cached by bitmask). */
  private worthRunning(g: DetectorGroup, stats: ByteStats): Detector[] {
    let mask = 0;
    for (let k = 0; k < g.needs.length; k++) if (passes(g.needs[k]!, stats)) mask |= 1 << k;
    let subset = g.subsets.get(mask);
    if (!subset) g.subsets.set(mask, (subset = g.detectors.filter((_, k) => (mask & (1 << k)) !== 0)));
    return subset;
  }

  /** Detectors over free text (notices, errors, parameters); unchanged when nothing matched. */
  maskText(text: string, tally?: MaskTally): string {
    if (this.groups.length === 0 && this.columnRules.length === 0) return text;
    const t = tally ?? newTally();
    const next = this.scanText(text, t);
    return next === null ? text : next === NULL_VALUE ? '****' : next;
  }

  /**
   * Server messages that echo values ("Key (email)=(x@y.z) already exists."): with any column rule
   * in force the echoed values are masked, whatever the column, because a message does not say
   * which table a value came from reliably; detectors then run over the rest.
   */
  maskServerText(text: string): string {
    const keys = this.columnRules.length === 0 ? text : text.replace(/\(([^()]*)\)=\((.*)\)/g, (_all, cols: string) => `(${cols})=(****)`);
    return this.maskText(keys);
  }
}

const REDACTED = Buffer.from('****');

function isAscii(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return false;
  return true;
}

/**
 * `partial` on ASCII bytes, applied to the copy in the output (same length, so no new buffer):
 * letters and digits but the last 4 become '*'.
 */
export const starAllButLast4: InPlaceMask = (out, start, end) => {
  for (let i = start; i < end - 4; i++) {
    const c = out[i]!;
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) out[i] = 0x2a;
  }
};

const UNKNOWN_COLUMN: ResultColumn = { name: '?', tableOid: 0, column: 0, typeOid: 0, format: 0 };
const NULL_VALUE = Symbol('null');
const NO_KEY: MaskKey = {
  hmac: () => {
    throw new TypeError('the pseudonym strategy needs masking.key');
  },
};
