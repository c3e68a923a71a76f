import type { PgCluster } from './pg-cluster.js';

/**
 * DEVELOPMENT AND TESTS ONLY: the `orders` demo — a role `orders_app` (the gateway's upstream
 * credentials), a database `orders` it owns, and two small tables with fake customers (example.com
 * addresses, test card numbers) and orders. Idempotent: safe at every start.
 */

const CUSTOMERS = [
  ['Ada Lovelace', 'ada@example.com', '4111111111111111'],
  ['Grace Hopper', 'grace@example.com', '5555555555554444'],
  ['Alan Turing', 'alan@example.com', '378282246310005'],
  ['Katherine Johnson', 'katherine@example.com', '4012888888881881'],
  ['Edsger Dijkstra', 'edsger@example.com', '6011111111111117'],
] as const;

const ITEMS = ['keyboard', 'monitor', 'usb-c cable', 'desk lamp', 'notebook', 'headphones', 'webcam', 'chair mat'];
const STATUSES = ['new', 'paid', 'shipped', 'delivered'];

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function seedOrdersDemo(cluster: PgCluster, appPassword: string): Promise<void> {
  const roles = await cluster.query('SELECT 1 FROM pg_roles WHERE rolname = $1', ['orders_app']);
  // CREATE/ALTER ROLE cannot take bind parameters; the password is quoted as a literal
  await cluster.query(`${roles.length > 0 ? 'ALTER' : 'CREATE'} ROLE orders_app LOGIN PASSWORD ${quote(appPassword)}`);
  const dbs = await cluster.query('SELECT 1 FROM pg_database WHERE datname = $1', ['orders']);
  if (dbs.length === 0) await cluster.query('CREATE DATABASE orders OWNER orders_app');
  const tables = await cluster.query("SELECT 1 FROM pg_tables WHERE tablename = 'customers'", [], 'orders');
  if (tables.length > 0) return;
  const rows: string[] = [];
  for (let i = 0; i < 20; i++) {
    rows.push(`(${(i % CUSTOMERS.length) + 1}, ${quote(ITEMS[i % ITEMS.length]!)}, ${1000 + ((i * 737) % 9000)}, ${quote(STATUSES[i % STATUSES.length]!)})`);
  }
  await cluster.query(
    `BEGIN;
     SET ROLE orders_app;
     CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL, card_number text, created_at timestamptz NOT NULL DEFAULT now());
     CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, item text NOT NULL, amount_cents int NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
     INSERT INTO customers (name, email, card_number) VALUES ${CUSTOMERS.map((c) => `(${c.map(quote).join(', ')})`).join(', ')};
     INSERT INTO orders (customer_id, item, amount_cents, status) VALUES ${rows.join(', ')};
     COMMIT;`,
    [],
    'orders',
  );
}
