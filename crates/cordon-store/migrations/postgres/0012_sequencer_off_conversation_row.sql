-- Issue 13 moved the SQLite sequencer off the conversation row (see the SQLite migration of this number; no
-- schema change there either). PostgreSQL keeps its schema: its heap appends share pages across conversations, its
-- conversation-row sequencer is the lock that keeps seq gap-free across nodes, and bumping it is a HOT update
-- (no indexed column changes). This migration keeps the version numbers of both backends in step.
SELECT 1;
