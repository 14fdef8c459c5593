-- Version 1, TimescaleDB: logs is a hypertable on time (unix ns, 1 h
-- chunks), compressed after 1 h segmented by service, with a continuous
-- aggregate of counts per minute, service and level for the stats API.
CREATE TABLE logs (
	time     bigint NOT NULL,
	service  text COLLATE "C" NOT NULL,
	batch_id text COLLATE "C" NOT NULL,
	idx      integer NOT NULL,
	severity smallint NOT NULL,
	body     text NOT NULL,
	attrs    text NOT NULL,
	rec      bytea NOT NULL
);
SELECT create_hypertable('logs', 'time', chunk_time_interval => 3600000000000::bigint, create_default_indexes => false);
CREATE INDEX logs_time ON logs (time);
CREATE INDEX logs_service_time ON logs (service, time);
CREATE FUNCTION sawmill_now_ns() RETURNS bigint LANGUAGE sql STABLE
	AS $$ SELECT (extract(epoch FROM now()) * 1000000000)::bigint $$;
SELECT set_integer_now_func('logs', 'sawmill_now_ns');
ALTER TABLE logs SET (
	timescaledb.compress,
	timescaledb.compress_segmentby = 'service',
	timescaledb.compress_orderby = 'time DESC, batch_id DESC, idx DESC'
);
-- An integer time column gets a daily compression run by default; every
-- 30 minutes keeps at most about 1.5 h of rows uncompressed.
SELECT add_compression_policy('logs', compress_after => 3600000000000::bigint, schedule_interval => INTERVAL '30 minutes');
CREATE MATERIALIZED VIEW logs_per_minute
	WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
	SELECT time_bucket(60000000000::bigint, time) AS minute,
		service,
		(CASE WHEN severity BETWEEN 1 AND 24 THEN (severity - 1) / 4 * 4 + 1 ELSE 9 END)::smallint AS level,
		count(*) AS n
	FROM logs
	GROUP BY 1, 2, 3
	WITH NO DATA;
-- The aggregate's chunks span an hour like the raw ones, so dropping raw and
-- aggregate chunks older than a cut (retention) removes the same hours from
-- both: raw chunks are dropped without invalidating the aggregate.
SELECT set_chunk_time_interval('logs_per_minute', 3600000000000::bigint);
SELECT add_continuous_aggregate_policy('logs_per_minute',
	start_offset => NULL, end_offset => 60000000000::bigint, schedule_interval => INTERVAL '1 minute');
