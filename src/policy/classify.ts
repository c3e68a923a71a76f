import { fingerprintSync, loadModule, parseSync } from 'libpg-query';

/**
 * SQL classification with PostgreSQL's own parser (libpg-query, WASM): what each statement of a
 * query text does, wherever it hides — every statement of a multi-statement Query, DML inside WITH
 * clauses and subqueries, the statement under EXPLAIN ANALYZE, COPY TO/FROM PROGRAM, DO blocks and
 * CALL (opaque), SET ROLE / SESSION AUTHORIZATION, ALTER SYSTEM. Pure apart from the parser's
 * one-time WASM load (initClassifier); results are cached by text, and by numeric shape where
 * that is exact (numericShape).
 */

export type StatementKind =
  | 'select' | 'insert' | 'update' | 'delete' | 'merge' | 'truncate' | 'drop' | 'alter' | 'create' | 'grant' | 'revoke'
  | 'copy' | 'do' | 'call' | 'set_role' | 'set_session_authorization' | 'alter_system' | 'explain' | 'transaction'
  | 'set' | 'show' | 'vacuum' | 'prepare' | 'execute' | 'other';

export interface Operation {
  kind: StatementKind;
  /** schema-qualified where given (`public.orders`), else the bare name */
  tables: string[];
  /** an UPDATE or DELETE without WHERE (or with WHERE CURRENT OF is bounded) */
  unbounded: boolean;
  /** COPY ... TO/FROM PROGRAM */
  program: boolean;
  /** COPY: its direction and whether its data is in binary format */
  copy?: { to: boolean; binary: boolean };
}

export interface Classification {
  parsed: boolean;
  error: string | null;
  /** every operation found, top-level statements and the ones nested in them */
  operations: Operation[];
  /** every function called anywhere in the text (schema-qualified where given), lower case */
  functions: string[];
}

let ready: Promise<void> | null = null;

/** Loads the parser (once); call at start before classifying. */
export function initClassifier(): Promise<void> {
  ready ??= loadModule();
  return ready;
}

type Node = Record<string, unknown>;

const KIND: Record<string, StatementKind> = {
  SelectStmt: 'select', InsertStmt: 'insert', UpdateStmt: 'update', DeleteStmt: 'delete', MergeStmt: 'merge',
  TruncateStmt: 'truncate', DropStmt: 'drop', DropdbStmt: 'drop', DropRoleStmt: 'drop', DropTableSpaceStmt: 'drop',
  DropOwnedStmt: 'drop', AlterTableStmt: 'alter', AlterRoleStmt: 'alter', AlterDatabaseStmt: 'alter', AlterObjectSchemaStmt: 'alter',
  AlterOwnerStmt: 'alter', RenameStmt: 'alter', AlterFunctionStmt: 'alter', AlterDomainStmt: 'alter', AlterSeqStmt: 'alter',
  CreateStmt: 'create', CreateTableAsStmt: 'create', IndexStmt: 'create', ViewStmt: 'create', CreateFunctionStmt: 'create',
  CreateRoleStmt: 'create', CreatedbStmt: 'create', CreateSchemaStmt: 'create', CreateSeqStmt: 'create', CreateTrigStmt: 'create',
  CreateExtensionStmt: 'create', RuleStmt: 'create', GrantStmt: 'grant', GrantRoleStmt: 'grant', CopyStmt: 'copy', DoStmt: 'do',
  CallStmt: 'call', AlterSystemStmt: 'alter_system', ExplainStmt: 'explain', TransactionStmt: 'transaction', VariableShowStmt: 'show',
  VacuumStmt: 'vacuum', PrepareStmt: 'prepare', ExecuteStmt: 'execute',
};

function tableName(rv: Node): string {
  const name = String(rv.relname ?? '');
  return rv.schemaname ? `${String(rv.schemaname)}.${name}` : name;
}

/** Walks any parse-tree value, calling visit for every node object `{ NodeType: {...} }`. */
function walk(value: unknown, visit: (type: string, body: Node) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, visit);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value as Node)) {
    if (/^[A-Z]/.test(k) && v !== null && typeof v === 'object' && !Array.isArray(v)) visit(k, v as Node);
    walk(v, visit);
  }
}

/** Does the tree mention a column anywhere? */
function hasColumn(value: unknown): boolean {
  let found = false;
  walk({ x: value }, (t) => {
    if (t === 'ColumnRef') found = true;
  });
  return found;
}

const strip = (v: unknown): string => JSON.stringify(v, (k, x: unknown) => (k === 'location' ? undefined : x));
/** the same with every constant alike: expressions equal under it may be equal or not depending on their constants */
const stripConstants = (v: unknown): string => JSON.stringify(v, (k, x: unknown) => (k === 'location' ? undefined : k === 'A_Const' ? 0 : x));

/**
 * Set while classifying a text when the result depends on the value of a constant (see filters):
 * that classification is not shared with other texts of its numeric shape.
 */
let dependsOnConstants = false;

/**
 * Whether a WHERE clause can actually narrow the rows: a heuristic that errs towards "no", so
 * `WHERE true`, `WHERE 1 = 1`, `WHERE now() > '2000-01-01'` (no column at all), `WHERE id = id`
 * and `WHERE id = 1 OR true` (an OR arm without a column) count as unbounded. WHERE CURRENT OF
 * a cursor is one row.
 */
function filters(where: unknown): boolean {
  if (where === undefined || where === null) return false;
  const w = where as Node;
  if (w.CurrentOfExpr) return true;
  if (!hasColumn(w)) return false;
  const bool = w.BoolExpr as Node | undefined;
  if (bool) {
    const args = Array.isArray(bool.args) ? (bool.args as unknown[]) : [];
    if (bool.boolop === 'OR_EXPR') return args.every((a) => filters(a));
    if (bool.boolop === 'AND_EXPR') return args.some((a) => filters(a));
    return true;
  }
  const expr = w.A_Expr as Node | undefined;
  if (expr && expr.kind === 'AEXPR_OP' && expr.lexpr !== undefined) {
    // `id + 1 = id + 1` is no bound, `id + 1 = id + 2` is: which one depends on the constants
    if (stripConstants(expr.lexpr) === stripConstants(expr.rexpr)) dependsOnConstants = true;
    if (strip(expr.lexpr) === strip(expr.rexpr)) return false;
  }
  return true;
}

function operationOf(type: string, body: Node): Operation | null {
  if (type === 'VariableSetStmt') {
    const name = String(body.name ?? '');
    if (name === 'role') return { kind: 'set_role', tables: [], unbounded: false, program: false };
    if (name === 'session_authorization') return { kind: 'set_session_authorization', tables: [], unbounded: false, program: false };
    return { kind: 'set', tables: [], unbounded: false, program: false };
  }
  if (type === 'ExplainStmt') {
    // EXPLAIN runs its statement only with ANALYZE; the nested statement is classified by the walk
    const analyze = JSON.stringify(body.options ?? []).includes('"analyze"');
    return analyze ? { kind: 'explain', tables: [], unbounded: false, program: false } : null;
  }
  const kind = KIND[type];
  if (!kind) return null;
  const tables: string[] = [];
  const rel = body.relation as Node | undefined;
  if (rel && typeof rel === 'object') tables.push(tableName(rel));
  // every relation named inside the statement (FROM, USING, joins, subqueries): over-approximate, never miss
  walk(body, (t, b) => {
    if (t === 'RangeVar') tables.push(tableName(b));
  });
  if (kind === 'drop') {
    if (Array.isArray(body.objects)) {
      for (const o of body.objects as unknown[]) {
        const parts = JSON.stringify(o).match(/"sval":"([^"]*)"/g)?.map((p) => p.slice(8, -1)) ?? [];
        if (parts.length > 0) tables.push(parts.join('.'));
      }
    }
  }
  const unbounded = (kind === 'update' || kind === 'delete') && !filters(body.whereClause);
  const program = kind === 'copy' && body.is_program === true;
  const op: Operation = { kind, tables: [...new Set(tables)], unbounded, program };
  if (kind === 'copy') op.copy = { to: body.is_from !== true, binary: /"defname":"format","arg":\{"String":\{"sval":"binary"/.test(JSON.stringify(body.options ?? [])) };
  return op;
}

function qualifiedName(parts: unknown): string {
  if (!Array.isArray(parts)) return '';
  return parts.map((p) => String((p as { String?: { sval?: string } }).String?.sval ?? '')).join('.').toLowerCase();
}

/**
 * The statement's shape: the parser's fingerprint, equal for texts that differ only in constants,
 * comments, whitespace or keyword case. A time-bound approval grant covers one shape.
 */
export function statementShape(text: string): string {
  try {
    return `pgfp:${fingerprintSync(text)}`;
  } catch {
    return `text:${text}`;
  }
}

const cache = new Map<string, Classification>();
const CACHE_MAX = 10_000;
const CACHE_TEXT_MAX = 16 * 1024;
/** classifications shared by texts that differ only in numeric constants (numericShape) */
const shapes = new Map<string, Classification>();

const isIdentChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c >= 0x80;

/**
 * The text with every numeric constant written as 0, or null when that would not be exact or
 * nothing changed. Simple-protocol clients (pgbench, most ORMs without server-side prepare) inline
 * their values, so nearly every statement is a new text and was parsed again (27 µs of WASM for
 * pgbench's select, 38 µs for its update; bench/micro.mjs). Written here rather than taken
 * from the parser because it must cost far less than a parse: the parser's own fingerprint is a
 * scan of the same cost.
 *
 * Exact because it bails out on everything whose lexing needs more than this loop: quotes of any
 * kind (' and " cover E'', B'', X'', U&'' and U&""), dollar signs (dollar quotes, parameters,
 * identifiers with $), backslashes and comment openers (-- and /*). What is left is identifiers,
 * keywords, operators, punctuation and numbers; a digit run counts as a constant only with no
 * identifier character on either side (PostgreSQL treats every byte >= 0x80 as one), so `t1`,
 * `col_2`, `é1` and `1e5` stay as they are.
 */
export function numericShape(text: string): string | null {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 39 || c === 34 || c === 36 || c === 92) return null;
    if ((c === 45 || c === 47) && text.charCodeAt(i + 1) === (c === 45 ? 45 : 42)) return null;
    if (c < 48 || c > 57 || (i > 0 && isIdentChar(text.charCodeAt(i - 1)))) continue;
    let j = i + 1;
    while (j < text.length && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
    if (j < text.length && isIdentChar(text.charCodeAt(j))) {
      i = j - 1;
      continue;
    }
    out += `${text.slice(from, i)}0`;
    from = j;
    i = j - 1;
  }
  return from === 0 ? null : out + text.slice(from);
}

/**
 * Whether a classification may stand for every text of its numeric shape: it parsed (an error
 * message quotes the text), and no part of it depended on a constant's value (dependsOnConstants).
 */
const shareable = (c: Classification): boolean => c.parsed && !dependsOnConstants;

export function classify(text: string): Classification {
  const hit = cache.get(text);
  if (hit) return hit;
  const shape = text.length <= CACHE_TEXT_MAX ? numericShape(text) : null;
  if (shape !== null) {
    const same = shapes.get(shape);
    if (same) return same;
  }
  let result: Classification;
  dependsOnConstants = false;
  try {
    const tree = parseSync(text) as { stmts?: Array<{ stmt?: Node }> };
    const operations: Operation[] = [];
    const functions = new Set<string>();
    for (const s of tree.stmts ?? []) {
      walk(s, (type, body) => {
        const op = operationOf(type, body);
        if (op) operations.push(op);
        if (type === 'FuncCall') functions.add(qualifiedName(body.funcname));
      });
    }
    result = { parsed: true, error: null, operations, functions: [...functions] };
  } catch (e) {
    result = { parsed: false, error: e instanceof Error ? e.message : String(e), operations: [], functions: [] };
  }
  // long texts (bulk INSERTs) are classified every time rather than pinned in memory
  if (text.length <= CACHE_TEXT_MAX) {
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(text, result);
    if (shape !== null && shareable(result)) {
      if (shapes.size >= CACHE_MAX) shapes.delete(shapes.keys().next().value!);
      shapes.set(shape, result);
    }
  }
  return result;
}
