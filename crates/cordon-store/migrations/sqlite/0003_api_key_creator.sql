-- Who created each API key (an audit actor label such as `agent:a_…` or `operator:cli`), shown in the key list.
-- Keys made before this column existed show an empty value; their `apikey.create` audit entry names the actor.
ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
