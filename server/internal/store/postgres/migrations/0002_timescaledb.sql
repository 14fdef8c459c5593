-- Version 2, TimescaleDB: the record fields a filter can match exactly, as
-- in plain PostgreSQL mode (see 0002_partitioned.sql), without the trace
-- index: compressed chunks are scanned by segment (service).
ALTER TABLE logs
	ADD COLUMN trace_id bytea,
	ADD COLUMN span_id bytea,
	ADD COLUMN logger text COLLATE "C",
	ADD COLUMN error_type text COLLATE "C";
