import type { MaskingConfig, MaskingRule } from '../core/config.js';
import type { Principal } from '../identity/principal.js';
import { BUILTIN_DETECTORS, customDetector, type Detector } from './detectors.js';
import { ASCII, CARD, EMAIL, NOTHING, PHONE, SSN, WHOLE, candidates, cardValue, DETECTOR_BIT, ssnValue, wholeEmail, wholePhone } from './prefilter.js';
import { maskMatches, maskWhole, scan, type MaskKey, type Strategy } from './strategies.js';
import { Spans, findEmails, findPhones, mergeInto } from './text-bytes.js';

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
  /** per detector, its bit in the byte prefilter's answer (0: a custom detector, always run) */
  bits: number[];
  /** the bits of the group's built-in detectors */
  gate: number;
  /** a custom detector can match anything: the group is always scanned */
  always: boolean;
  /** the detectors worth running, by the prefilter's bits that concern the group */
  subsets: Map<number, Detector[]>;
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

/**
 * What to do with value i of a row, and what column it is: arrays read per value (no call), and
 * for rows whose columns were never described, one action for every value.
 */
export class RowPlan {
  constructor(
    private readonly actions: ReadonlyArray<ColumnAction | null>,
    private readonly columns: readonly ResultColumn[],
    /** the action of a value past the arrays (undescribed columns) */
    private readonly otherwise: ColumnAction | null,
    /** the rule a scan of this session's one redacting group fires (redactAscii() adds none) */
    private readonly scanRule: string | undefined,
    /** the values anything applies to (by index; undefined: every value); the others need no call */
    readonly masked?: readonly boolean[],
  ) {}

  action(i: number): ColumnAction | null {
    return i < this.actions.length ? this.actions[i]! : this.otherwise;
  }

  column(i: number): ResultColumn {
    return this.columns[i] ?? UNKNOWN_COLUMN;
  }

  /**
   * Adds what maskValue() counted (values masked per column index) to a tally, and resets the
   * counts: the columns' counts and the rules that fired. Counting by index on the row path
   * spares a map update and a set insert per masked value. Several detector groups add their
   * rules as they fire (scanText()).
   */
  settle(counts: number[], tally: MaskTally): void {
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i];
      if (!n) continue;
      counts[i] = 0;
      const a = this.action(i);
      const rule = a?.kind === 'whole' ? a.rule : this.scanRule;
      if (rule !== undefined) tally.rules.add(rule);
      const name = this.column(i).name;
      tally.columns.set(name, (tally.columns.get(name) ?? 0) + n);
    }
  }
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

/**
 * Types whose values, text or binary, no built-in detector can match: bool prints t/f; int2, int4
 * and oid print an optional '-' and at most 10 digits, where every detector needs more (a card 13
 * digits), a separator inside the digits (SSN, phone, IPv4), '+', '(', '@', ':' or letters. Not
 * int8 or numeric: a card number fits in them.
 */
const NO_DETECTOR_TYPES = new Set([16, 21, 23, 26]);

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
        const bits = detectors.map((d) => (d === (BUILTIN_DETECTORS as Record<string, Detector>)[d.name] ? DETECTOR_BIT[d.name] ?? 0 : 0));
        const gate = bits.reduce((x, y) => x | y, 0);
        this.groups.push({ strategy: r.strategy as Masking, rule: r.name, detectors, bits, gate, always: bits.includes(0), subsets: new Map() });
      }
    }
    this.key = setup.key;
    const only = this.groups.length === 1 ? this.groups[0]! : null;
    this.redactOnly = only && (only.strategy === 'redact' || (only.strategy === 'pseudonym' && !this.key)) ? only : null;
    this.gates = this.groups.reduce((x, g) => x | g.gate, 0);
    this.always = this.groups.some((g) => g.always);
  }

  /** the prefilter bits any group is concerned with, and whether a group must always be scanned (anyPasses) */
  private readonly gates: number;
  private readonly always: boolean;

  private readonly key: MaskKey | null;
  /** the one detector group when it is the only one and redacts: ASCII values then take the byte path */
  private readonly redactOnly: DetectorGroup | null;

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
    return new RowPlan([], [], action, this.redactOnly?.rule);
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
        // no built-in detector can match what these types print (see NO_DETECTOR_TYPES); a custom one might
        if (!this.always && NO_DETECTOR_TYPES.has(c.typeOid)) return null;
        any = true;
        return { kind: 'scan', ...typeFlags(c) };
      }
      return null;
    });
    const masked = actions.map((a) => a !== null);
    const plan = any ? new RowPlan(actions, columns, null, this.redactOnly?.rule, masked) : null;
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
    const counts: number[] = [];
    const masked = this.maskValue(plan, i, body, start, end, tally, counts);
    plan.settle(counts, tally);
    return masked;
  }

  /**
   * maskField() for the row path: what was masked is counted in counts[i], and reaches the tally
   * when the result ends (plan.settle()).
   */
  maskValue(plan: RowPlan, i: number, body: Buffer, start: number, end: number, tally: MaskTally, counts: number[]): Buffer | null | undefined | InPlaceMask {
    const action = plan.action(i);
    if (!action) return undefined;
    const masked = this.maskOne(action, plan.column(i), body, start, end, tally);
    if (masked !== undefined) {
      while (counts.length <= i) counts.push(0);
      counts[i]!++;
    }
    return masked;
  }

  /** undefined: unchanged */
  private maskOne(action: ColumnAction, col: ResultColumn, v: Buffer, start: number, end: number, tally: MaskTally): Buffer | null | undefined | InPlaceMask {
    const { textual, replaceable, binaryJsonb } = action;
    if (action.kind === 'whole') {
      if (action.strategy === 'null' || !replaceable) return null;
      if (action.strategy === 'redact') return REDACTED;
      if (action.strategy === 'partial' && isAscii(v, start, end)) return end - start <= 4 ? REDACTED : starAllButLast4;
      return Buffer.from(this.whole(v.toString('utf8', start, end), action.strategy, action.label), 'utf8');
    }
    // a binary value of a non-text type: nothing a detector can read
    if (col.format !== 0 && !textual) return undefined;
    const from = binaryJsonb ? start + 1 : start;
    const found = candidates(v, from, end);
    if (!this.anyPasses(found)) return undefined;
    if ((found & ASCII) !== 0) {
      // one redacting group over ASCII text: string offsets are byte offsets, the output is written from the spans
      if (this.redactOnly !== null) return this.redactAscii(this.redactOnly, v, from, end, found, tally, replaceable);
      return this.finish(this.scanText(latin1(v, from, end), tally, found), replaceable);
    }
    return this.finish(this.scanText(utf8(v, from, end), tally, found), replaceable);
  }

  private finish(next: string | typeof NULL_VALUE | null, replaceable: boolean): Buffer | null | undefined {
    if (next === null) return undefined;
    if (next === NULL_VALUE || !replaceable) return null;
    // a value that was one sensitive item (an email column) needs no new buffer
    return next === '****' ? REDACTED : Buffer.from(next, 'utf8');
  }

  /**
   * The one group's detectors over an ASCII value, masked by `redact`: what scanText() and
   * maskMatches() would give, written as bytes (each span becomes '****').
   */
  private redactAscii(g: DetectorGroup, v: Buffer, from: number, end: number, found: number, tally: MaskTally, replaceable: boolean): Buffer | null | undefined {
    // a value that is one plain email address and nothing else any detector could see: no string at all
    if ((found & g.gate) === EMAIL && !g.always && wholeEmail(v, from, end)) {
      return replaceable ? REDACTED : null;
    }
    // a value that is one card number, SSN or phone number (the common case of such a column), on
    // its bytes: found whole by its detector, it is masked whole whatever else matches in it (every
    // other match overlaps it and loses); found by nothing, with no other detector let through by
    // the prefilter, it stays as it is
    const bits = found & g.gate;
    if ((bits & (CARD | SSN | PHONE)) !== 0) {
      let whole = false;
      if ((bits & CARD) !== 0) {
        const card = cardValue(v, from, end);
        if (card === WHOLE) whole = true;
        else if (card === NOTHING && bits === CARD && !g.always) return undefined;
      }
      if (!whole && (bits & SSN) !== 0) {
        const ssn = ssnValue(v, from, end);
        if (ssn === WHOLE) whole = true;
        else if (ssn === NOTHING && bits === SSN && !g.always) return undefined;
      }
      if (!whole && (bits & PHONE) !== 0) whole = wholePhone(v, from, end);
      if (whole) {
        return replaceable ? REDACTED : null;
      }
    }
    // email addresses and phone numbers inside text: found on the bytes too
    if ((bits & ~(EMAIL | PHONE)) === 0 && !g.always) return this.redactSpans(v, from, end, bits, replaceable);
    // the string is made only here, for what the byte tests above could not settle
    const text = latin1(v, from, end);
    const detectors = this.worthRunning(g, found);
    // scan() of one detector is a copy of its matches: only read here, so taken as they are
    const matches = detectors.length === 1 ? detectors[0]!.find(text) : scan(text, detectors);
    if (matches.length === 0) return undefined;
    if (!replaceable) return null;
    if (matches.length === 1 && matches[0]!.start === 0 && matches[0]!.end === text.length) return REDACTED;
    let n = end - from;
    for (const m of matches) n += 4 - (m.end - m.start);
    const out = Buffer.allocUnsafe(n);
    let w = 0;
    let pos = from;
    for (const m of matches) {
      for (let i = pos, to = from + m.start; i < to; i++) out[w++] = v[i]!;
      out[w++] = 0x2a;
      out[w++] = 0x2a;
      out[w++] = 0x2a;
      out[w++] = 0x2a;
      pos = from + m.end;
    }
    for (let i = pos; i < end; i++) out[w++] = v[i]!;
    return out;
  }

  /** redactAscii() for a value only the email and phone detectors may match: their spans found on the bytes (text-bytes.ts) */
  private redactSpans(v: Buffer, from: number, end: number, bits: number, replaceable: boolean): Buffer | null | undefined {
    const [emails, phones] = FOUND;
    emails.reset();
    phones.reset();
    if ((bits & EMAIL) !== 0) findEmails(v, from, end, emails);
    if ((bits & PHONE) !== 0) findPhones(v, from, end, phones);
    if (emails.n === 0 && phones.n === 0) return undefined;
    if (!replaceable) return null;
    let spans = emails.n === 0 ? phones : emails;
    if (emails.n > 0 && phones.n > 0) {
      // scan() of [email, phone]: in the order of the rule's detectors, which redaction does not see
      spans = MERGED;
      spans.reset();
      mergeInto(FOUND, spans);
    }
    const at = spans.at;
    if (spans.n === 2 && at[0] === from && at[1] === end) return REDACTED;
    let n = end - from;
    for (let k = 0; k < spans.n; k += 2) n += 4 - (at[k + 1]! - at[k]!);
    const out = Buffer.allocUnsafe(n);
    let w = 0;
    let pos = from;
    for (let k = 0; k < spans.n; k += 2) {
      for (let i = pos, to = at[k]!; i < to; i++) out[w++] = v[i]!;
      out[w++] = 0x2a;
      out[w++] = 0x2a;
      out[w++] = 0x2a;
      out[w++] = 0x2a;
      pos = at[k + 1]!;
    }
    for (let i = pos; i < end; i++) out[w++] = v[i]!;
    return out;
  }

  private whole(text: string, strategy: Exclude<Strategy, 'null'>, label: string): string {
    if (strategy === 'pseudonym' && !this.key) return maskWhole(text, 'redact', NO_KEY, label);
    return maskWhole(text, strategy, this.key ?? NO_KEY, label);
  }

  /** Detectors over one text; the masked text, NULL_VALUE for a null strategy, or null when nothing matched. */
  private scanText(text: string, tally: MaskTally, found = -1): string | typeof NULL_VALUE | null {
    let current = text;
    let changed = false;
    for (const g of this.groups) {
      const matches = scan(current, found >= 0 && !changed ? this.worthRunning(g, found) : g.detectors);
      if (matches.length === 0) continue;
      tally.rules.add(g.rule);
      if (g.strategy === 'null') return NULL_VALUE;
      const strategy = g.strategy === 'pseudonym' && !this.key ? 'redact' : g.strategy;
      current = maskMatches(current, matches, strategy, this.key ?? NO_KEY);
      changed = true;
    }
    return changed ? current : null;
  }

  private anyPasses(found: number): boolean {
    return this.always || (this.gates & found) !== 0;
  }

  /** The group's detectors the byte prefilter let through (the same few subsets recur: cached by bitmask). */
  private worthRunning(g: DetectorGroup, found: number): Detector[] {
    const mask = found & g.gate;
    let subset = g.subsets.get(mask);
    if (!subset) g.subsets.set(mask, (subset = g.detectors.filter((_, k) => g.bits[k] === 0 || (g.bits[k]! & mask) !== 0)));
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
/** spans of redactSpans(), reused */
const FOUND = [new Spans(), new Spans()] as const;
const MERGED = new Spans();

/**
 * Decoding without Buffer#toString's argument handling (about half its cost on short values);
 * latin1 of an all-ASCII value is its UTF-8 decoding.
 */
type Slicing = Buffer & { latin1Slice?(start: number, end: number): string; utf8Slice?(start: number, end: number): string };
const FAST_SLICE = typeof (Buffer.prototype as Slicing).latin1Slice === 'function' && typeof (Buffer.prototype as Slicing).utf8Slice === 'function';
const latin1 = (b: Buffer, start: number, end: number): string => (FAST_SLICE ? (b as Slicing).latin1Slice!(start, end) : b.toString('latin1', start, end));
const utf8 = (b: Buffer, start: number, end: number): string => (FAST_SLICE ? (b as Slicing).utf8Slice!(start, end) : b.toString('utf8', start, end));

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
