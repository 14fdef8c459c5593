// Package auth checks optional bearer tokens on gRPC and HTTP. With no
// tokens configured everything is open; with tokens, a request must carry
// "authorization: Bearer <token>" with one of them, and is otherwise
// answered Unauthenticated (gRPC) or 401 with a JSON body (HTTP). Tokens are
// compared in constant time.
//
// The check runs on the request headers, before anything of the body is
// read: on gRPC as a tap handle (grpc.InTapHandle), which refuses the call
// before its stream exists, so an unauthenticated request is neither
// received nor decoded whatever its size; on HTTP as a middleware in front
// of the handlers.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
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

// errUnauthenticated is the answer to a gRPC call without a valid token.
var errUnauthenticated = status.Error(codes.Unauthenticated, "missing or invalid bearer token")

// checkMD reports whether one of the authorization values of md carries a
// valid token.
func (t *Tokens) checkMD(md metadata.MD) bool {
	if !t.Enabled() {
		return true
	}
	for _, v := range md.Get("authorization") {
		if t.Check(v) {
			return true
		}
	}
	return false
}

// TapHandle is a grpc.InTapHandle that refuses every call without a valid
// token with Unauthenticated, before its stream is created.
func (t *Tokens) TapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !t.checkMD(info.Header) {
		return nil, errUnauthenticated
	}
	return ctx, nil
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
