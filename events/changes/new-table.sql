-- New table schema exported from the shop service (MySQL 8.0).
-- Uploading this file adds shop.order_items and shop.order_events to the DTS job.
/*!40101 SET NAMES utf8mb4 */;

CREATE DATABASE IF NOT EXISTS `shop` DEFAULT CHARACTER SET utf8mb4;
USE `shop`;

DROP TABLE IF EXISTS `order_items`;
CREATE TABLE IF NOT EXISTS `shop`.`order_items` (
  `id`         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `order_id`   BIGINT UNSIGNED NOT NULL COMMENT 'orders.id; never null',
  `sku`        VARCHAR(64)     NOT NULL,
  `quantity`   INT             NOT NULL DEFAULT 1,
  `created_at` DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`id`, `created_at`),
  KEY `idx_order` (`order_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='line items; one row per SKU'
PARTITION BY RANGE COLUMNS (`created_at`) (
  PARTITION p2024 VALUES LESS THAN ('2025-01-01'),
  PARTITION pmax VALUES LESS THAN (MAXVALUE)
);

# Unqualified: goes to the database of the USE above.
CREATE TABLE order_events (
  id BIGINT PRIMARY KEY,
  payload JSON
) ENGINE=InnoDB;

CREATE INDEX idx_events_payload ON order_events ((CAST(payload->>'$.type' AS CHAR(32))));
