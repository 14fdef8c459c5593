// Package pipeline holds the small contracts between Sawmill's ingest, its
// queue and its store, so that each engine (embedded or production) plugs in
// behind one interface and ingest never imports a concrete queue or store.
//
// The flow is: ingest validates a batch and hands it to a Publisher; when
// Publish returns nil the batch is durable. A queue later hands durable
// batches to a Consumer (the store writer) and acknowledges them only after
// the Consumer returned nil, and hands every durable batch, best effort, to
// an Observer (live tail, recent cache, real-time rates).
package pipeline
