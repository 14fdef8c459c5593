// Package auth checks optional bearer tokens on gRPC and HTTP. With no
// tokens configured everything is open; with tokens, a request must carry
// "authorization: Bearer <token>" with one of them, and is otherwise
// answered Unauthenticated (gRPC) or 401 with a JSON body (HTTP). Tokens are
// compared in constant time.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Tokens is a set of accepted bearer tokens.
type Tokens struct {
	sums [][32]byte
}

// New returns the set of tokens (empty ones are ignored).
func New(tokens []string) *Tokens {
	t := &Tokens{}
	for _, tok := range tokens {
		if tok = strings.TrimSpace(tok); tok != "" {
			t.sums = append(t.sums, sha256.Sum256([]byte(tok)))
		}
	}
	return t
}

// Enabled reports whether any token is required.
func (t *Tokens) Enabled() bool { return t != nil && len(t.sums) > 0 }

// Check reports whether the authorization header value carries a valid token.
func (t *Tokens) Check(header string) bool {
	if !t.Enabled() {
		return true
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	found := 0
	for _, s := range t.sums {
		found |= subtle.ConstantTimeCompare(sum[:], s[:])
	}
	return found == 1
}

func (t *Tokens) checkContext(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t.Check(v) {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "missing or invalid bearer token")
}

// UnaryInterceptor checks unary calls.
func (t *Tokens) UnaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := t.checkContext(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// StreamInterceptor checks streams.
func (t *Tokens) StreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := t.checkContext(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// Middleware guards next. EventSource cannot set headers, so a token may
// also come as the access_token query parameter.
func (t *Tokens) Middleware(next http.Handler) http.Handler {
	if !t.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.Check(r.Header.Get("Authorization")) || (r.URL.Query().Has("access_token") && t.Check("Bearer "+r.URL.Query().Get("access_token"))) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("WWW-Authenticate", `Bearer realm="sawmill"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"missing or invalid bearer token"}` + "\n"))
	})
}
