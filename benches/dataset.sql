-- The wide half of the benchmark dataset (the narrow half is pgbench's tables).
-- psql -v scale=N: row counts are multiplied by N (1 = about 600 MB of tables and indexes).
-- Types that cost CPU to convert and copy: jsonb, numeric, timestamptz, text[], an enum,
-- bytea, TOASTed text; several indexes and foreign keys. Indexes and foreign keys are
-- created after the data, as every tool under test does on the target.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.1);
SELECT greatest(1, (400000 * :scale)::int) AS customers,
       greatest(1, (2000000 * :scale)::int) AS events,
       greatest(1, (40000 * :scale)::int) AS documents \gset

CREATE SCHEMA bench;
CREATE TYPE bench.segment AS ENUM ('consumer', 'smb', 'enterprise', 'public_sector');
CREATE TYPE bench.event_kind AS ENUM ('view', 'click', 'cart', 'purchase', 'refund');

CREATE TABLE bench.customers (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    segment    bench.segment NOT NULL,
    created_at timestamptz NOT NULL,
    tags       text[] NOT NULL,
    attrs      jsonb NOT NULL
);

CREATE TABLE bench.events (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    kind        bench.event_kind NOT NULL,
    amount      numeric(12, 2),
    happened_at timestamptz NOT NULL,
    tags        text[] NOT NULL,
    payload     jsonb NOT NULL,
    fingerprint bytea NOT NULL
);

CREATE TABLE bench.documents (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    meta        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL
);

INSERT INTO bench.customers
SELECT i,
       'Customer ' || i,
       'user' || i || '@example.com',
       (ARRAY['consumer', 'consumer', 'smb', 'enterprise', 'public_sector'])[1 + i % 5]::bench.segment,
       timestamptz '2018-01-01 00:00+00' + random() * interval '2000 days',
       ARRAY['t' || i % 13, 't' || i % 7, 'region-' || i % 5],
       jsonb_build_object('plan', (ARRAY['free', 'pro', 'team'])[1 + i % 3],
                          'score', round((random() * 100)::numeric, 3),
                          'flags', jsonb_build_array(i % 2 = 0, i % 3 = 0))
FROM generate_series(1::bigint, :customers) AS i;

INSERT INTO bench.events
SELECT i,
       1 + (i * 7919) % :customers,
       (ARRAY['view', 'view', 'view', 'click', 'click', 'cart', 'purchase', 'refund'])[1 + i % 8]::bench.event_kind,
       CASE WHEN i % 8 >= 6 THEN round((random() * 1000)::numeric, 2) END,
       timestamptz '2023-01-01 00:00+00' + i * interval '7 seconds',
       ARRAY['web', (ARRAY['mobile', 'desktop', 'tablet'])[1 + i % 3]],
       jsonb_build_object('ip', '10.' || i % 256 || '.' || (i / 256) % 256 || '.' || i % 7,
                          'path', '/product/' || i % 5000,
                          'ua', (ARRAY['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Macintosh)',
                                       'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)'])[1 + i % 3],
                          'items', jsonb_build_array(i % 100, i % 37, i % 11),
                          'latency_ms', round((random() * 300)::numeric, 1)),
       decode(md5(i::text), 'hex')
FROM generate_series(1::bigint, :events) AS i;

-- ~3 kB bodies of hex digits: stored compressed or out of line (TOAST).
INSERT INTO bench.documents
SELECT i,
       1 + (i * 104729) % :customers,
       'Document ' || i,
       (SELECT string_agg(md5((i * 100 + j)::text), ' ') FROM generate_series(1, 90) AS j),
       jsonb_build_object('lang', (ARRAY['en', 'de', 'fr'])[1 + i % 3], 'version', i % 9),
       timestamptz '2024-01-01 00:00+00' + i * interval '1 minute'
FROM generate_series(1::bigint, :documents) AS i;

CREATE UNIQUE INDEX customers_email_key ON bench.customers (email);
CREATE INDEX customers_segment_idx ON bench.customers (segment, created_at);
CREATE INDEX events_customer_idx ON bench.events (customer_id);
CREATE INDEX events_happened_idx ON bench.events (happened_at);
CREATE INDEX events_kind_idx ON bench.events (kind, happened_at) WHERE kind IN ('purchase', 'refund');
CREATE INDEX documents_customer_idx ON bench.documents (customer_id);
ALTER TABLE bench.events ADD FOREIGN KEY (customer_id) REFERENCES bench.customers;
ALTER TABLE bench.documents ADD FOREIGN KEY (customer_id) REFERENCES bench.customers;
