// Package store defines what Sawmill needs from a log store — writing
// batches exactly once and answering the queries of the query service — and
// the query types shared by every store. Engines live in sub-packages
// (sqlite, postgres); storetest holds the conformance suite every engine
// passes, so that all of them answer the same queries with the same results.
package store
