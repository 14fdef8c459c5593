package auth

import (
	"context"
	"strings"

	"google.golang.org/grpc/tap"
)

// Router checks each gRPC call against the tokens of its service (the
// dashboard's token may read but not ingest, say), and every other call
// against Default.
type Router struct {
	Default   *Tokens
	ByService map[string]*Tokens // full service name, e.g. "sawmill.v1.QueryService"
}

func (r Router) pick(fullMethod string) *Tokens {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if t, ok := r.ByService[svc]; ok {
		return t
	}
	return r.Default
}

// TapHandle is a grpc.InTapHandle checking each call against the tokens of
// its service. grpc-go runs it on the request headers before the call's
// stream exists: a refused call is answered Unauthenticated without a byte
// of its body being read or decoded.
func (r Router) TapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	return r.pick(info.FullMethodName).TapHandle(ctx, info)
}
