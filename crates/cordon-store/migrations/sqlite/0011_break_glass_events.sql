-- Break-glass access by operators (issue 12) is pushed to the tenant's webhooks (issue 16), in the same statement
-- as the grant's request and its approval by a second operator: the tenant learns of it at once, not at its
-- next visit to the admin pages.
CREATE TRIGGER webhook_break_glass_requested AFTER INSERT ON operator_grants
WHEN NEW.break_glass = 1
BEGIN
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, data, created_at, next_attempt_at)
        SELECT 'wh_' || lower(hex(randomblob(12))), NEW.tenant_id, e.id, 'operator_access.break_glass_requested',
               json_object('grant_id', NEW.id, 'operator_id', NEW.operator_id, 'reason', NEW.reason,
                           'duration_ms', NEW.duration_ms),
               NEW.requested_at, NEW.requested_at
        FROM webhook_endpoints e
        WHERE e.tenant_id = NEW.tenant_id AND e.enabled = 1
          AND instr(e.events, ' operator_access.break_glass_requested ') > 0;
END;

CREATE TRIGGER webhook_break_glass_approved AFTER UPDATE OF approved_at ON operator_grants
WHEN NEW.break_glass = 1 AND OLD.approved_at IS NULL AND NEW.approved_at IS NOT NULL
BEGIN
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, data, created_at, next_attempt_at)
        SELECT 'wh_' || lower(hex(randomblob(12))), NEW.tenant_id, e.id, 'operator_access.break_glass_approved',
               json_object('grant_id', NEW.id, 'operator_id', NEW.operator_id, 'approved_by', NEW.approved_by,
                           'expires_at', NEW.expires_at),
               NEW.approved_at, NEW.approved_at
        FROM webhook_endpoints e
        WHERE e.tenant_id = NEW.tenant_id AND e.enabled = 1
          AND instr(e.events, ' operator_access.break_glass_approved ') > 0;
END;
