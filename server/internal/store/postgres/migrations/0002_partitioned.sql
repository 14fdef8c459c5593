-- Version 2, plain PostgreSQL: the record fields a filter can match exactly,
-- NULL when the record has none (and in rows stored before version 2, whose
-- rec still holds them: those rows do not match these filters). A trace
-- search reads a partial btree index: only rows with a trace id are in it.
ALTER TABLE logs
	ADD COLUMN trace_id bytea,
	ADD COLUMN span_id bytea,
	ADD COLUMN logger text COLLATE "C",
	ADD COLUMN error_type text COLLATE "C";
CREATE INDEX logs_trace_id ON logs (trace_id) WHERE trace_id IS NOT NULL;
