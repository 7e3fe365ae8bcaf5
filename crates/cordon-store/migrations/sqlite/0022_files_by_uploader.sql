-- Issue 20: a visitor's upload budget (files and bytes per hour) is counted from the files it sent, so the count
-- holds across nodes and restarts; this index answers it without reading the tenant's other files.
CREATE INDEX conversation_files_uploader ON conversation_files (tenant_id, uploader_id, created_at);
