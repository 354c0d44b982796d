-- dialect: postgres
-- New table schema for the reporting service (PostgreSQL 15).
CREATE SCHEMA IF NOT EXISTS reporting;
SET search_path TO reporting, public;

CREATE TABLE IF NOT EXISTS "reporting"."DailySales" (
    id          bigserial,
    sales_date  date        NOT NULL,
    amount      numeric(14, 2) NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, sales_date)
) PARTITION BY RANGE (sales_date);

CREATE TABLE reporting.daily_sales_2024 PARTITION OF "reporting"."DailySales"
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

/* Unqualified and unquoted: lands in reporting (search_path) and folds to lower case. */
CREATE TABLE Monthly_Totals (month date PRIMARY KEY, total numeric(16, 2));

COMMENT ON TABLE "reporting"."DailySales" IS 'one row per day; amount in CNY';

-- Retired by this release: reported and ignored unless the route sets allowRemovals.
DROP TABLE IF EXISTS reporting.legacy_sales;
