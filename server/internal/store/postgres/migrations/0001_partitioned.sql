-- Version 1, plain PostgreSQL: logs range-partitioned by day on time (unix
-- ns); partitions are created on demand by the store (logs_YYYYMMDD).
CREATE TABLE logs (
	time     bigint NOT NULL,
	service  text COLLATE "C" NOT NULL,
	batch_id text COLLATE "C" NOT NULL,
	idx      integer NOT NULL,
	severity smallint NOT NULL,
	body     text NOT NULL,
	attrs    text NOT NULL,
	rec      bytea NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX logs_time ON logs (time);
CREATE INDEX logs_service_time ON logs (service, time);
