package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sawmill-dev/sawmill/examples/internal/reqctx"
	"github.com/sawmill-dev/sawmill/sdk/sawmillzap"
)

// HeaderFault makes a request fail on purpose ("X-Fault: db": the order
// store is down), to show what an error with a stack looks like in Sawmill.
const HeaderFault = "X-Fault"

// errStoreDown is the simulated outage of the order store.
var errStoreDown = errors.New("order store unavailable: connection refused")

// Order is what POST /orders creates.
type Order struct {
	ID          string `json:"id"`
	UserID      string `json:"user_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Status      string `json:"status"` // paid or declined
	PaymentID   string `json:"payment_id,omitempty"`
}

type service struct {
	log         *zap.Logger
	http        *http.Client
	usersURL    string
	paymentsURL string

	mu     sync.Mutex
	next   int
	orders map[string]Order
}

func newService(log *zap.Logger, usersURL, paymentsURL string) *service {
	return &service{log: log, http: &http.Client{Timeout: 5 * time.Second},
		usersURL: usersURL, paymentsURL: paymentsURL, orders: map[string]Order{}}
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("POST /orders", s.logged(s.createOrder))
	mux.Handle("GET /orders/{id}", s.logged(s.getOrder))
	return reqctx.Middleware(mux)
}

// requestLogger returns the logger of one request: every entry carries
// the request id, and the trace and span ids that Sawmill stores as the
// record's trace context.
func (s *service) requestLogger(ctx context.Context) *zap.Logger {
	in := reqctx.From(ctx)
	return s.log.With(zap.String("request_id", in.RequestID),
		zap.String(sawmillzap.TraceIDKey, in.TraceID), zap.String(sawmillzap.SpanIDKey, in.SpanID))
}

type handler func(w http.ResponseWriter, r *http.Request, log *zap.Logger) int

// logged runs h with the request's logger and writes one access-log entry.
func (s *service) logged(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		log := s.requestLogger(r.Context())
		status := h(w, r, log)
		log.Info("request served", zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.Int("status", status), zap.Duration("duration", time.Since(start)))
	})
}

type createRequest struct {
	UserID      string `json:"user_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

func (s *service) createOrder(w http.ResponseWriter, r *http.Request, log *zap.Logger) int {
	var req createRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.UserID == "" || req.AmountCents <= 0 {
		if err == nil {
			err = errors.New("user_id and a positive amount_cents are required")
		}
		log.Warn("invalid order request", zap.Error(err))
		return writeError(w, http.StatusBadRequest, err.Error())
	}
	if req.Currency == "" {
		req.Currency = "EUR"
	}
	log = log.With(zap.String("user_id", req.UserID), zap.Int64("amount_cents", req.AmountCents), zap.String("currency", req.Currency))

	found, err := s.userExists(r.Context(), req.UserID)
	if err != nil {
		log.Error("look up user", zap.Error(err))
		return writeError(w, http.StatusBadGateway, "users service unavailable")
	}
	if !found {
		log.Warn("order refused: unknown user")
		return writeError(w, http.StatusUnprocessableEntity, "unknown user "+strconv.Quote(req.UserID))
	}

	o := Order{UserID: req.UserID, AmountCents: req.AmountCents, Currency: req.Currency}
	if err := s.save(&o, r.Header.Get(HeaderFault) == "db"); err != nil {
		log.Error("save order", zap.Error(err))
		return writeError(w, http.StatusInternalServerError, "could not save the order")
	}
	log = log.With(zap.String("order_id", o.ID))

	pay, err := s.charge(r.Context(), o)
	switch {
	case errors.Is(err, errDeclined):
		o.Status = "declined"
		s.update(o)
		log.Warn("payment declined", zap.String("reason", pay.Reason))
		return writeJSON(w, http.StatusPaymentRequired, o)
	case err != nil:
		log.Error("charge payment", zap.Error(err))
		return writeError(w, http.StatusBadGateway, "payments service unavailable")
	}
	o.Status, o.PaymentID = "paid", pay.ID
	s.update(o)
	log.Info("order created", zap.String("payment_id", pay.ID))
	return writeJSON(w, http.StatusCreated, o)
}

func (s *service) getOrder(w http.ResponseWriter, r *http.Request, log *zap.Logger) int {
	id := r.PathValue("id")
	s.mu.Lock()
	o, ok := s.orders[id]
	s.mu.Unlock()
	if !ok {
		log.Warn("order not found", zap.String("order_id", id))
		return writeError(w, http.StatusNotFound, "no order "+strconv.Quote(id))
	}
	return writeJSON(w, http.StatusOK, o)
}

func (s *service) save(o *Order, fail bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	o.ID = fmt.Sprintf("ord_%06d", s.next)
	if fail {
		return fmt.Errorf("insert order %s: %w", o.ID, errStoreDown)
	}
	s.orders[o.ID] = *o
	return nil
}

func (s *service) update(o Order) {
	s.mu.Lock()
	s.orders[o.ID] = o
	s.mu.Unlock()
}

// userExists asks the users service about id.
func (s *service) userExists(ctx context.Context, id string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.usersURL+"/users/"+url.PathEscape(id), nil)
	if err != nil {
		return false, fmt.Errorf("users: build request: %w", err)
	}
	reqctx.From(ctx).Propagate(req.Header)
	resp, err := s.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("users: get user %q: %w", id, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("users: get user %q: status %d", id, resp.StatusCode)
	}
}

// payment is the payments service's answer.
type payment struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// errDeclined means the payments service declined the charge (HTTP 402).
var errDeclined = errors.New("payment declined")

// charge asks the payments service to capture the order's amount.
func (s *service) charge(ctx context.Context, o Order) (payment, error) {
	body, _ := json.Marshal(map[string]any{"order_id": o.ID, "amount_cents": o.AmountCents, "currency": o.Currency})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.paymentsURL+"/payments", bytes.NewReader(body))
	if err != nil {
		return payment{}, fmt.Errorf("payments: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	reqctx.From(ctx).Propagate(req.Header)
	resp, err := s.http.Do(req)
	if err != nil {
		return payment{}, fmt.Errorf("payments: charge order %s: %w", o.ID, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var p payment
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusPaymentRequired {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil {
			return payment{}, fmt.Errorf("payments: charge order %s: decode answer: %w", o.ID, err)
		}
	}
	switch resp.StatusCode {
	case http.StatusCreated:
		return p, nil
	case http.StatusPaymentRequired:
		return p, errDeclined
	default:
		return payment{}, fmt.Errorf("payments: charge order %s: status %d", o.ID, resp.StatusCode)
	}
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
