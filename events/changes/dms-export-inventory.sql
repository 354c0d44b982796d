-- Structure-only export of database inventory, laid out as GUI exporters such as DMS's database
-- export write it: section banners, DROP before CREATE, unqualified names and no USE, so the
-- route's sqlDatabase (or a `USE inventory;` added at the top) names the database.
SET NAMES utf8mb4;
SET FOREIGN_KEY_CHECKS = 0;

-- ----------------------------
-- Table structure for stock_levels
-- ----------------------------
DROP TABLE IF EXISTS `stock_levels`;
CREATE TABLE `stock_levels` (
  `sku` varchar(64) NOT NULL COMMENT 'SKU',
  `warehouse_id` int NOT NULL COMMENT 'warehouse',
  `on_hand` int NOT NULL DEFAULT '0',
  `reserved` int NOT NULL DEFAULT '0',
  `updated_at` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`sku`,`warehouse_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='stock per SKU and warehouse';

-- ----------------------------
-- Table structure for warehouses
-- ----------------------------
DROP TABLE IF EXISTS `warehouses`;
CREATE TABLE `warehouses` (
  `id` int NOT NULL AUTO_INCREMENT,
  `code` varchar(16) NOT NULL,
  `city` varchar(64) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_code` (`code`)
) ENGINE=InnoDB AUTO_INCREMENT=12 DEFAULT CHARSET=utf8mb4;

-- ----------------------------
-- View structure for v_low_stock
-- ----------------------------
DROP VIEW IF EXISTS `v_low_stock`;
CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v_low_stock` AS select `stock_levels`.`sku` AS `sku`,`stock_levels`.`on_hand` AS `on_hand` from `stock_levels` where (`stock_levels`.`on_hand` < 10);

-- ----------------------------
-- Triggers structure for table stock_levels
-- ----------------------------
DROP TRIGGER IF EXISTS `trg_stock_not_negative`;
delimiter ;;
CREATE TRIGGER `trg_stock_not_negative` BEFORE UPDATE ON `stock_levels` FOR EACH ROW BEGIN
  IF NEW.on_hand < 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'on_hand below zero';
  END IF;
END
;;
delimiter ;

SET FOREIGN_KEY_CHECKS = 1;
