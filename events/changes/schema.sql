-- schema.sql for the catalog service (loaded by the app's test fixtures and by hand in staging).
-- dialect: postgres
CREATE SCHEMA IF NOT EXISTS catalog;
SET search_path TO catalog, public;

CREATE TYPE product_state AS ENUM ('draft', 'live', 'retired');

CREATE TABLE IF NOT EXISTS Products (
    product_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title        text          NOT NULL,
    state        product_state NOT NULL DEFAULT 'draft',
    attributes   jsonb         NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE IF NOT EXISTS "ProductImages" (
    product_id   bigint NOT NULL REFERENCES Products (product_id) ON DELETE CASCADE,
    position     smallint NOT NULL,
    url          text NOT NULL,
    PRIMARY KEY (product_id, position)
);

CREATE MATERIALIZED VIEW IF NOT EXISTS live_products AS
    SELECT product_id, title FROM Products WHERE state = 'live'
WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS live_products_pk ON live_products (product_id);
