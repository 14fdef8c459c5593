// Command bench runs the standard "seed-burst" workload (BENCHMARKS.md, "The workload")
// end to end against a fresh sawmill built from this repository and prints
// the workload's table of figures.
//
// One run: build sawmill and the loadgen; start sawmill on loopback (embedded
// mode with a temporary data dir, or production mode against this machine's
// RabbitMQ and PostgreSQL with a vhost and a database of its own, removed
// afterwards); follow the live tail (GET /api/v1/tail, markers only) and poll
// the query API (GET /api/v1/logs?attr=marker_seq:N) for each source's
// markers; start the sources as separate processes at once; wait until every
// source's records are acknowledged; poll the count until everything acked is
// stored (the drain); count each source's records and their distinct ids
// (gRPC QueryService.Search, oldest first); sample CPU and RSS of sawmill
// (and of beam.smp and postgres in production mode) from /proc every 100 ms.
//
// --knee repeats the run with the per-source rate doubled (100k, 200k, 400k,
// ...) until the achieved rate falls under 90% of the offered rate or the
// drain lag passes its target, and reports the last rate that held.
//
// Every wait has a deadline and every loop a bound; every server listens on
// 127.0.0.1.
//
//	go run ./examples/bench --mode embedded --rate 100000 --duration 5s --sources 3 --sdk go --out bench.json
//
// The search subcommand measures search at the scale of a day (the "day"
// workload, BENCHMARKS.md, "The workload"): for each store (embedded SQLite, or
// PostgreSQL through --database-url alone with native daily partitions, in
// a database of its own) and each workload (standard: the seed-burst
// records; longline: 100-2,000-byte infrastructure lines), it starts a fresh
// sawmill with retention off, loads --records records (9,000,000 standard,
// 4,800,000 longline by default) through one loadgen process per service,
// unpaced, their times spread evenly over the --span (24 h) before the load
// started, with needles planted at known positions (workload.Day); waits
// until the count is complete; measures ingest time, sawmill's CPU and RSS,
// and the bytes on disk (du of the data dir; pg_database_size). It then
// replays the generators to know every question's exact answer and asks
// each question one warm-up plus --runs times, one at a time: median, p99
// (the max below 100 runs), and the answer judged: ok, WRONG (a wrong
// answer is never reported as fast), unsupported (a question the API cannot
// ask yet: answered 400/404, or the new parameter ignored, the answer
// equal to the one without it), or ERROR. --mixed 10s adds a phase of
// --mixed-clients concurrent clients asking the supported questions at
// random.
//
//	go run ./examples/bench search --mode embedded --workload standard --records 9000000 --runs 7 --out search.json
package main
