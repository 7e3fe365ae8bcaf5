-- Break-glass access by operators (issue 12) is pushed to the tenant's webhooks (issue 16), in the same statement
-- as the grant's request and its approval by a second operator: the tenant learns of it at once, not at its
-- next visit to the admin pages.
CREATE FUNCTION cordon_webhook_break_glass() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.break_glass <> 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM cordon_webhook_enqueue(NEW.tenant_id, 'operator_access.break_glass_requested', NULL, NULL,
            json_build_object('grant_id', NEW.id, 'operator_id', NEW.operator_id, 'reason', NEW.reason,
                              'duration_ms', NEW.duration_ms), NEW.requested_at);
    ELSIF OLD.approved_at IS NULL AND NEW.approved_at IS NOT NULL THEN
        PERFORM cordon_webhook_enqueue(NEW.tenant_id, 'operator_access.break_glass_approved', NULL, NULL,
            json_build_object('grant_id', NEW.id, 'operator_id', NEW.operator_id, 'approved_by', NEW.approved_by,
                              'expires_at', NEW.expires_at), NEW.approved_at);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_break_glass_requested AFTER INSERT ON operator_grants
    FOR EACH ROW EXECUTE FUNCTION cordon_webhook_break_glass();
CREATE TRIGGER webhook_break_glass_approved AFTER UPDATE OF approved_at ON operator_grants
    FOR EACH ROW EXECUTE FUNCTION cordon_webhook_break_glass();
