package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sawmill-dev/sawmill/examples/internal/reqctx"
	"github.com/sawmill-dev/sawmill/sdk/sawmillslog"
)

// HeaderFault makes a request fail on purpose ("X-Fault: db": the user
// directory is down), to show what an error with a stack looks like in
// Sawmill.
const HeaderFault = "X-Fault"

// errDirectoryDown is the simulated outage of the user directory.
var errDirectoryDown = errors.New("user directory unavailable: i/o timeout")

// User is one entry of the directory.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type service struct {
	log   *slog.Logger
	mu    sync.Mutex
	next  int
	users map[string]User
}

func newService(log *slog.Logger) *service {
	return &service{log: log, next: 3, users: map[string]User{
		"u1": {ID: "u1", Name: "Ada Lovelace", Email: "ada@example.com"},
		"u2": {ID: "u2", Name: "Grace Hopper", Email: "grace@example.com"},
		"u3": {ID: "u3", Name: "Katherine Johnson", Email: "katherine@example.com"},
	}}
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /users/{id}", s.logged(s.getUser))
	mux.Handle("POST /users", s.logged(s.createUser))
	return reqctx.Middleware(mux)
}

type handler func(w http.ResponseWriter, r *http.Request, log *slog.Logger) int

// logged runs h with the request's logger (every record carries the
// request id, and the trace and span ids Sawmill stores as the record's
// trace context) and writes one access-log record.
func (s *service) logged(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		in := reqctx.From(r.Context())
		log := s.log.With("request_id", in.RequestID, sawmillslog.TraceIDKey, in.TraceID, sawmillslog.SpanIDKey, in.SpanID)
		status := h(w, r, log)
		log.Info("request served", "method", r.Method, "path", r.URL.Path, "status", status, "duration", time.Since(start))
	})
}

func (s *service) getUser(w http.ResponseWriter, r *http.Request, log *slog.Logger) int {
	id := r.PathValue("id")
	u, err := s.lookup(id, r.Header.Get(HeaderFault) == "db")
	if err != nil {
		// The error carries its stack (see withStack): Sawmill shows it
		// as the record's error stack.
		log.Error("look up user", "user_id", id, "error", err)
		return writeError(w, http.StatusInternalServerError, "user directory unavailable")
	}
	if u == nil {
		log.Warn("user not found", "user_id", id)
		return writeError(w, http.StatusNotFound, "no user "+strconv.Quote(id))
	}
	log.Info("user found", "user_id", id)
	return writeJSON(w, http.StatusOK, u)
}

func (s *service) createUser(w http.ResponseWriter, r *http.Request, log *slog.Logger) int {
	var u User
	err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&u)
	if err == nil && (strings.TrimSpace(u.Name) == "" || !strings.Contains(u.Email, "@")) {
		err = errors.New("name and a valid email are required")
	}
	if err != nil {
		log.Warn("invalid user request", "error", err)
		return writeError(w, http.StatusBadRequest, err.Error())
	}
	s.mu.Lock()
	s.next++
	u.ID = "u" + strconv.Itoa(s.next)
	s.users[u.ID] = u
	s.mu.Unlock()
	log.Info("user created", "user_id", u.ID)
	return writeJSON(w, http.StatusCreated, u)
}

// lookup returns the user with id, nil when there is none.
func (s *service) lookup(id string, fail bool) (*User, error) {
	if fail {
		return nil, withStack(fmt.Errorf("select user %q: %w", id, errDirectoryDown))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok {
		return &u, nil
	}
	return nil, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

func writeError(w http.ResponseWriter, status int, msg string) int {
	return writeJSON(w, status, map[string]string{"error": msg})
}
