--liquibase formatted sql

--changeset li.wei:payments-1 labels:payments context:prod
--comment: payment intents and their state changes
CREATE TABLE payments.payment_intents (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id      bigint      NOT NULL,
    amount_cents  bigint      NOT NULL CHECK (amount_cents > 0),
    currency      char(3)     NOT NULL DEFAULT 'CNY',
    created_at    timestamptz NOT NULL DEFAULT now()
);
--rollback DROP TABLE payments.payment_intents;

--changeset li.wei:payments-2
CREATE TABLE payments.intent_events (
    intent_id     uuid        NOT NULL REFERENCES payments.payment_intents (id),
    seq           integer     NOT NULL,
    state         text        NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (intent_id, seq)
);
CREATE INDEX intent_events_state_idx ON payments.intent_events (state);
--rollback DROP TABLE payments.intent_events;

--changeset li.wei:payments-3 splitStatements:false
CREATE OR REPLACE FUNCTION payments.intent_total(p_order bigint) RETURNS bigint
LANGUAGE sql STABLE AS $body$
    SELECT coalesce(sum(amount_cents), 0) FROM payments.payment_intents WHERE order_id = p_order;
$body$;
--rollback DROP FUNCTION payments.intent_total(bigint);

--changeset li.wei:payments-4
ALTER TABLE payments.payment_intents RENAME TO payment_intents_v1;
--rollback ALTER TABLE payments.payment_intents_v1 RENAME TO payment_intents;
