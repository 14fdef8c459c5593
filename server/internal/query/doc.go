// Package query answers reads: the gRPC QueryService and the HTTP JSON API
// under /api/v1 (which mirrors it), over a store.Reader for stored logs and
// the live hub for the tail, the recent cache and real-time rates. Both
// surfaces parse the same filters into one store.Filter, so a view moves
// between search, count, tail and stats unchanged. Bad parameters are
// answered with InvalidArgument or HTTP 400 and a JSON body naming the
// parameter, and so is a query parameter the endpoint does not take (only
// access_token is accepted everywhere), so that a misspelt or unsupported
// filter never silently widens the answer; every filter value reaches the
// store as data, never as query text.
package query
