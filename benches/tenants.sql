-- The "many small tables" dataset of benches/run.sh --tenants N: a schema per tenant, each
-- with an accounts table and nine tables that reference it (a bigserial key, a foreign
-- key, an index, numeric and text columns), 50 accounts and 200 rows per table.
-- psql -v tenants=N. One transaction per tenant: creating thousands of tables in one
-- transaction would exhaust the server's lock table.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE PROCEDURE pg_temp.make_tenants(n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR s IN 1..n LOOP
    EXECUTE format('CREATE SCHEMA tenant_%s', s);
    EXECUTE format('CREATE TABLE tenant_%s.accounts (id bigint PRIMARY KEY, name text NOT NULL,
                    created timestamptz NOT NULL DEFAULT now())', s);
    EXECUTE format('INSERT INTO tenant_%s.accounts SELECT i, ''account '' || i FROM generate_series(1, 50) i', s);
    FOR t IN 1..9 LOOP
      EXECUTE format('CREATE TABLE tenant_%1$s.t%2$s (id bigserial PRIMARY KEY,
                      account_id bigint NOT NULL REFERENCES tenant_%1$s.accounts, v numeric, note text)', s, t);
      EXECUTE format('CREATE INDEX ON tenant_%1$s.t%2$s (account_id)', s, t);
      EXECUTE format('INSERT INTO tenant_%1$s.t%2$s (account_id, v, note)
                      SELECT 1 + i %% 50, i * 1.5, ''row '' || i FROM generate_series(1, 200) i', s, t);
    END LOOP;
    COMMIT;
  END LOOP;
END $$;
CALL pg_temp.make_tenants(:tenants);
