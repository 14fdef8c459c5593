// Package proto holds Sawmill's wire contract: the buf-managed .proto sources
// under sawmill/v1 and the Go code generated from them under gen/go/sawmill/v1
// (package sawmillv1). Generated code is never edited by hand; run
// `make generate` at the repository root.
package proto
