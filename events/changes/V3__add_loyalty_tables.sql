-- Flyway versioned migration V3: loyalty programme.
-- Flyway runs it against the schema configured for the app (flyway.schemas=loyalty), so the names
-- below are unqualified: the route's sqlDatabase, or a USE, says where they live.

CREATE TABLE loyalty_members (
    member_id     BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id   BIGINT       NOT NULL,
    joined_on     DATE         NOT NULL,
    tier          VARCHAR(16)  NOT NULL DEFAULT 'bronze'
) ENGINE=InnoDB;

CREATE TABLE loyalty_points_ledger (
    entry_id      BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    member_id     BIGINT       NOT NULL,
    delta         INT          NOT NULL,
    reason        VARCHAR(64)  NOT NULL,
    created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    CONSTRAINT fk_ledger_member FOREIGN KEY (member_id) REFERENCES loyalty_members (member_id)
) ENGINE=InnoDB;

CREATE INDEX idx_ledger_member_created ON loyalty_points_ledger (member_id, created_at);

-- Swap in the rebuilt tier table: created here under a temporary name, then renamed.
CREATE TABLE loyalty_tiers_new (
    tier          VARCHAR(16)  NOT NULL PRIMARY KEY,
    min_points    INT          NOT NULL
) ENGINE=InnoDB;
INSERT INTO loyalty_tiers_new (tier, min_points) VALUES ('bronze', 0), ('silver', 1000), ('gold', 5000);
RENAME TABLE loyalty_tiers TO loyalty_tiers_old, loyalty_tiers_new TO loyalty_tiers;

ALTER TABLE loyalty_members ADD COLUMN referred_by BIGINT NULL;
