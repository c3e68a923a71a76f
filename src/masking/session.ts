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
}

export type ColumnAction =
  | { kind: 'whole'; rule: string; strategy: Masking; label: string }
  | { kind: 'scan' };

/** What to do with value i of a row, and what column it is. */
export interface RowPlan {
  action(i: number): ColumnAction | null;
  column(i: number): ResultColumn;
}

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
    private readonly catalog: Catalog = () => null,
  ) {
    const custom = new Map(setup.config.detectors.map((d) => [d.name, customDetector(d.name, d.pattern, 'u')]));
    for (const r of setup.config.rules) {
      if (r.connections && !r.connections.includes(connection)) continue;
      if (r.groups && !r.groups.some((g) => principal.groups.includes(g))) continue;
      if (r.exempt.some((g) => principal.groups.includes(g))) continue;
      for (const spec of r.columns) this.columnRules.push(columnMatcher(r, spec));
      const detectors = r.detectors.map((d) => (BUILTIN_DETECTORS as Record<string, Detector>)[d] ?? custom.get(d)).filter((d): d is Detector => d !== undefined);
      if (detectors.length > 0) this.groups.push({ strategy: r.strategy as Masking, rule: r.name, detectors });
    }
    this.key = setup.key;
  }

  private readonly key: MaskKey | null;

  /** False when no rule applies to this session: results pass untouched. */
  get active(): boolean {
    return this.columnRules.length > 0 || this.groups.length > 0;
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
    const action: ColumnAction = this.columnRules.length > 0
      ? { kind: 'whole', rule: '(undescribed columns)', strategy: 'null', label: '?' }
      : { kind: 'scan' };
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
        return { kind: 'whole', rule: rule.rule, strategy: rule.strategy, label: origin?.column ?? c.name };
      }
      if (this.groups.length > 0) {
        any = true;
        return { kind: 'scan' };
      }
      return null;
    });
    const plan: RowPlan | null = any ? { action: (i) => actions[i] ?? null, column: (i) => columns[i] ?? UNKNOWN_COLUMN } : null;
    if (this.plans.size > 1000) this.plans.clear();
    this.plans.set(shape, plan);
    return plan;
  }

  /**
   * Masks one row's values (wire form: Buffer or null per column). Returns the new values, or null
   * when nothing changed. A masked value keeps its column's type valid: text types change content,
   * other types become NULL.
   */
  maskValues(plan: RowPlan, values: ReadonlyArray<Buffer | null>, tally: MaskTally): Array<Buffer | null> | null {
    let out: Array<Buffer | null> | null = null;
    for (let i = 0; i < values.length; i++) {
      const action = plan.action(i);
      const v = values[i];
      if (!action || v === null || v === undefined) continue;
      const col = plan.column(i);
      const masked = this.maskOne(action, col, v, tally);
      if (masked === undefined) continue;
      out ??= [...values];
      out[i] = masked;
      tally.columns.set(col.name, (tally.columns.get(col.name) ?? 0) + 1);
    }
    return out;
  }

  /** undefined: unchanged */
  private maskOne(action: ColumnAction, col: ResultColumn, v: Buffer, tally: MaskTally): Buffer | null | undefined {
    const binaryJsonb = col.format === 1 && col.typeOid === JSONB;
    const textual = TEXT_TYPES.has(col.typeOid) || (col.typeOid === JSONB && col.format === 0) || binaryJsonb;
    const text = col.format === 0 || textual ? v.toString('utf8', binaryJsonb ? 1 : 0) : null;
    if (action.kind === 'whole') {
      tally.rules.add(action.rule);
      if (action.strategy === 'null' || !textual || text === null || col.typeOid === JSONB || col.typeOid === 114) return null;
      return Buffer.from(this.whole(text, action.strategy, action.label), 'utf8');
    }
    if (text === null) return undefined; // a binary non-text value: nothing a detector can read
    const next = this.scanText(text, tally);
    if (next === null) return undefined;
    if (next === NULL_VALUE || !textual || col.typeOid === JSONB || col.typeOid === 114) return null;
    return Buffer.from(next, 'utf8');
  }

  private whole(text: string, strategy: Exclude<Strategy, 'null'>, label: string): string {
    if (strategy === 'pseudonym' && !this.key) return maskWhole(text, 'redact', NO_KEY, label);
    return maskWhole(text, strategy, this.key ?? NO_KEY, label);
  }

  /** Detectors over one text; the masked text, NULL_VALUE for a null strategy, or null when nothing matched. */
  private scanText(text: string, tally: MaskTally): string | typeof NULL_VALUE | null {
    let current = text;
    let changed = false;
    for (const g of this.groups) {
      const matches = scan(current, g.detectors);
      if (matches.length === 0) continue;
      tally.rules.add(g.rule);
      if (g.strategy === 'null') return NULL_VALUE;
      const strategy = g.strategy === 'pseudonym' && !this.key ? 'redact' : g.strategy;
      current = maskMatches(current, matches, strategy, this.key ?? NO_KEY);
      changed = true;
    }
    return changed ? current : null;
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

const UNKNOWN_COLUMN: ResultColumn = { name: '?', tableOid: 0, column: 0, typeOid: 0, format: 0 };
const NULL_VALUE = Symbol('null');
const NO_KEY: MaskKey = {
  hmac: () => {
    throw new TypeError('the pseudonym strategy needs masking.key');
  },
};
