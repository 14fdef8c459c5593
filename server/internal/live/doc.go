// Package live keeps what Sawmill knows about logs in memory as they arrive:
// subscribers of the live tail, the last N records of each service (the
// recent cache) and per-second counts by service and level (real-time
// rates). It sees every durable batch through pipeline.Observer.
//
// Observe never blocks the queue: batches wait in a bounded hand-off and,
// when the hub falls behind, are dropped for live purposes only (counted in
// sawmill_live_dropped_batches_total); storage is not affected. A tail
// subscriber that cannot keep up is sampled: it receives at most its rate
// per second and is told how many matching records it skipped.
//
// A tail shows each batch at most once (the hub remembers the last
// Options.DedupeWindow batch ids, so a batch published twice, a retry after
// a lost confirm, is shown once), and is told with a gap (Update.Gap) when
// it may have missed records: batches the hub dropped (exact count) or a
// gap a queue reported through ObserveGap (its live feed was lost; count
// unknown). StopTails ends every tail, for a graceful stop.
package live
