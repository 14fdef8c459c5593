// Package direct is the queue of the "PostgreSQL without a broker" mode: no
// queue at all. Publish hands the batch to the Consumer that Run was given
// (the store writer) and returns once it is committed, so an ingest ack
// means the batch is in the database.
//
// Guarantees:
//   - Publish returns nil only after the Consumer stored the batch. Concurrent
//     publishes share transactions (group commit): Options.Writers goroutines
//     each take every pending batch, up to Options.MaxBatches, and store them
//     in one call.
//   - When the store fails, the publishes of that call fail with an error
//     wrapping pipeline.ErrUnavailable (the client retries the same batch id;
//     the store is idempotent by batch id). Nothing is retried or kept here.
//   - Memory is bounded: beyond Options.MaxPendingBytes waiting, Publish
//     returns a *pipeline.FullError.
//   - Before Run starts and after Shutdown, Publish fails (ErrUnavailable,
//     ErrClosed).
//   - The Observer sees each stored batch; without a broker a replica's live
//     view shows only the batches ingested by that replica.
package direct
