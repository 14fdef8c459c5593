package auth

import (
	"context"
	"strings"

	"google.golang.org/grpc"
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

// UnaryInterceptor checks unary calls.
func (r Router) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return r.pick(info.FullMethod).UnaryInterceptor(ctx, req, info, h)
}

// StreamInterceptor checks streams.
func (r Router) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return r.pick(info.FullMethod).StreamInterceptor(srv, ss, info, h)
}
