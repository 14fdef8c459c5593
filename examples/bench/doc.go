// Command bench runs the standard "seed-burst" workload (shared/WORKLOAD.md)
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
package main
