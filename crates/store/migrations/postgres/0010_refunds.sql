-- Refunds of captured money: the processor's refunded total per hold
-- (refunds themselves are operations, kind 'refund'), and the index that
-- lists a hold's operations.
ALTER TABLE holds ADD COLUMN amount_refunded BIGINT NOT NULL DEFAULT 0;
CREATE INDEX operations_by_hold ON operations (hold_id, created_at);
