--
-- PostgreSQL database dump
--

\restrict Q7vN2kTqZ8mYc3LwR5bHd1xJ9sFgP0aE

-- Dumped from database version 16.3
-- Dumped by pg_dump version 17.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: reporting; Type: SCHEMA; Schema: -; Owner: analyst
--

CREATE SCHEMA reporting;


ALTER SCHEMA reporting OWNER TO analyst;

--
-- Name: touch_updated_at(); Type: FUNCTION; Schema: reporting; Owner: analyst
--

CREATE FUNCTION reporting.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- a semicolon; inside the body must not end the statement
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;


ALTER FUNCTION reporting.touch_updated_at() OWNER TO analyst;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: daily_sales; Type: TABLE; Schema: reporting; Owner: analyst
--

CREATE TABLE reporting.daily_sales (
    id bigint NOT NULL,
    sales_date date NOT NULL,
    region text NOT NULL,
    amount numeric(14,2) DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
)
PARTITION BY RANGE (sales_date);


ALTER TABLE reporting.daily_sales OWNER TO analyst;

--
-- Name: daily_sales_2024; Type: TABLE; Schema: reporting; Owner: analyst
--

CREATE TABLE reporting.daily_sales_2024 (
    id bigint NOT NULL,
    sales_date date NOT NULL,
    region text NOT NULL,
    amount numeric(14,2) DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE reporting.daily_sales_2024 OWNER TO analyst;

--
-- Name: daily_sales_2025; Type: TABLE; Schema: reporting; Owner: analyst
--

CREATE TABLE reporting.daily_sales_2025 PARTITION OF reporting.daily_sales
FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');


ALTER TABLE reporting.daily_sales_2025 OWNER TO analyst;

--
-- Name: daily_sales_id_seq; Type: SEQUENCE; Schema: reporting; Owner: analyst
--

CREATE SEQUENCE reporting.daily_sales_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER SEQUENCE reporting.daily_sales_id_seq OWNER TO analyst;

--
-- Name: daily_sales_id_seq; Type: SEQUENCE OWNED BY; Schema: reporting; Owner: analyst
--

ALTER SEQUENCE reporting.daily_sales_id_seq OWNED BY reporting.daily_sales.id;

--
-- Name: store visits; Type: TABLE; Schema: reporting; Owner: analyst
--

CREATE TABLE reporting."store visits" (
    store_id integer NOT NULL,
    visited_on date NOT NULL,
    "Visitor Count" integer DEFAULT 0 NOT NULL
);


ALTER TABLE reporting."store visits" OWNER TO analyst;

--
-- Name: COLUMN "store visits"."Visitor Count"; Type: COMMENT; Schema: reporting; Owner: analyst
--

COMMENT ON COLUMN reporting."store visits"."Visitor Count" IS 'door counter; one row per store; per day';

--
-- Name: v_region_totals; Type: VIEW; Schema: reporting; Owner: analyst
--

CREATE VIEW reporting.v_region_totals AS
 SELECT region,
    sum(amount) AS total
   FROM reporting.daily_sales
  GROUP BY region;


ALTER VIEW reporting.v_region_totals OWNER TO analyst;

--
-- Name: daily_sales_2024; Type: TABLE ATTACH; Schema: reporting; Owner: analyst
--

ALTER TABLE ONLY reporting.daily_sales ATTACH PARTITION reporting.daily_sales_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

--
-- Name: daily_sales id; Type: DEFAULT; Schema: reporting; Owner: analyst
--

ALTER TABLE ONLY reporting.daily_sales ALTER COLUMN id SET DEFAULT nextval('reporting.daily_sales_id_seq'::regclass);

--
-- Name: daily_sales daily_sales_pkey; Type: CONSTRAINT; Schema: reporting; Owner: analyst
--

ALTER TABLE ONLY reporting.daily_sales
    ADD CONSTRAINT daily_sales_pkey PRIMARY KEY (id, sales_date);

--
-- Name: daily_sales_2024 daily_sales_2024_pkey; Type: CONSTRAINT; Schema: reporting; Owner: analyst
--

ALTER TABLE ONLY reporting.daily_sales_2024
    ADD CONSTRAINT daily_sales_2024_pkey PRIMARY KEY (id, sales_date);

--
-- Name: store visits store visits_pkey; Type: CONSTRAINT; Schema: reporting; Owner: analyst
--

ALTER TABLE ONLY reporting."store visits"
    ADD CONSTRAINT "store visits_pkey" PRIMARY KEY (store_id, visited_on);

--
-- Name: idx_daily_sales_region; Type: INDEX; Schema: reporting; Owner: analyst
--

CREATE INDEX idx_daily_sales_region ON ONLY reporting.daily_sales USING btree (region);

--
-- Name: daily_sales_2024_pkey; Type: INDEX ATTACH; Schema: reporting; Owner: analyst
--

ALTER INDEX reporting.daily_sales_pkey ATTACH PARTITION reporting.daily_sales_2024_pkey;

--
-- Name: daily_sales trg_daily_sales_touch; Type: TRIGGER; Schema: reporting; Owner: analyst
--

CREATE TRIGGER trg_daily_sales_touch BEFORE UPDATE ON reporting.daily_sales FOR EACH ROW EXECUTE FUNCTION reporting.touch_updated_at();

--
-- Name: TABLE daily_sales; Type: ACL; Schema: reporting; Owner: analyst
--

GRANT SELECT ON TABLE reporting.daily_sales TO dts_reader;

--
-- PostgreSQL database dump complete
--

\unrestrict Q7vN2kTqZ8mYc3LwR5bHd1xJ9sFgP0aE

