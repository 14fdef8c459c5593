package query

import (
	"context"
	"errors"
	"sort"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/live"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Service implements sawmillv1.QueryServiceServer.
type Service struct {
	sawmillv1.UnimplementedQueryServiceServer
	Store store.Reader
	Hub   *live.Hub
	Now   func() time.Time
	// TailInterval is the least time between two tail responses (default 100ms).
	TailInterval time.Duration
}

var _ sawmillv1.QueryServiceServer = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// grpcError maps an internal error to a status at the edge.
func grpcError(err error) error {
	var pe *ParamError
	if errors.Is(err, store.ErrBadCursor) {
		pe = &ParamError{"cursor", err.Error()}
	}
	switch {
	case pe != nil || errors.As(err, &pe):
		st, e := status.New(codes.InvalidArgument, pe.Error()).WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: pe.Param, Description: pe.Msg}},
		})
		if e != nil {
			return status.Error(codes.InvalidArgument, pe.Error())
		}
		return st.Err()
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, "no such log")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// Search returns one page.
func (s *Service) Search(ctx context.Context, req *sawmillv1.SearchRequest) (*sawmillv1.SearchResponse, error) {
	f, err := FilterFromProto(req.GetFilter())
	if err != nil {
		return nil, grpcError(err)
	}
	if req.GetLimit() > store.MaxLimit {
		return nil, grpcError(&ParamError{"limit", "at most 1000"})
	}
	p, err := s.Store.Search(ctx, store.SearchQuery{Filter: f, Limit: int(req.GetLimit()), Cursor: req.GetCursor(), OldestFirst: req.GetOldestFirst()})
	if err != nil {
		return nil, grpcError(err)
	}
	return &sawmillv1.SearchResponse{Entries: p.Entries, NextCursor: p.NextCursor}, nil
}

// Count counts.
func (s *Service) Count(ctx context.Context, req *sawmillv1.CountRequest) (*sawmillv1.CountResponse, error) {
	f, err := FilterFromProto(req.GetFilter())
	if err != nil {
		return nil, grpcError(err)
	}
	n, err := s.Store.Count(ctx, f)
	if err != nil {
		return nil, grpcError(err)
	}
	return &sawmillv1.CountResponse{Count: n}, nil
}

// GetLog returns one record with its neighbours.
func (s *Service) GetLog(ctx context.Context, req *sawmillv1.GetLogRequest) (*sawmillv1.GetLogResponse, error) {
	if req.GetSurrounding() > 100 {
		return nil, grpcError(&ParamError{"surrounding", "at most 100"})
	}
	d, err := s.Store.Get(ctx, req.GetId(), int(req.GetSurrounding()))
	if err != nil {
		return nil, grpcError(err)
	}
	return &sawmillv1.GetLogResponse{Entry: d.Entry, Before: d.Before, After: d.After}, nil
}

// Tail streams live records.
func (s *Service) Tail(req *sawmillv1.TailRequest, stream sawmillv1.QueryService_TailServer) error {
	f, err := FilterFromProto(req.GetFilter())
	if err != nil {
		return grpcError(err)
	}
	if req.GetMaxRate() > live.MaxTailRate {
		return grpcError(&ParamError{"max_rate", "at most 20000"})
	}
	sub := s.Hub.Subscribe(f, int(req.GetMaxRate()))
	defer sub.Close()
	interval := s.TailInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	for {
		u, err := sub.Next(stream.Context(), interval, nil)
		if errors.Is(err, live.ErrStopping) {
			// Ending the stream lets a graceful stop finish; the client
			// reconnects (to another replica) on UNAVAILABLE.
			return status.Error(codes.Unavailable, "server stopping: reconnect the tail, to another replica if need be")
		}
		if err != nil {
			return nil
		}
		resp := &sawmillv1.TailResponse{Entries: u.Entries, Skipped: u.Skipped}
		if g := u.Gap; g != nil {
			resp.Gap = &sawmillv1.TailGap{FromUnixNano: unixNano(g.From), ToUnixNano: unixNano(g.To), MissedRecords: g.Records, Reason: g.Reason}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func unixNano(t time.Time) uint64 { return uint64(max(t.UnixNano(), 0)) }

// Recent returns the recent cache.
func (s *Service) Recent(_ context.Context, req *sawmillv1.RecentRequest) (*sawmillv1.RecentResponse, error) {
	m := s.Hub.Recent(req.GetServices(), int(req.GetLimit()))
	out := &sawmillv1.RecentResponse{}
	for svc, es := range m {
		out.Services = append(out.Services, &sawmillv1.ServiceLogs{Service: svc, Entries: es})
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Service < out.Services[j].Service })
	return out, nil
}

// Stats returns counts per bucket.
func (s *Service) Stats(ctx context.Context, req *sawmillv1.StatsRequest) (*sawmillv1.StatsResponse, error) {
	f, err := FilterFromProto(req.GetFilter())
	if err != nil {
		return nil, grpcError(err)
	}
	step, err := StatsWindow(&f, req.GetStep().AsDuration(), s.now())
	if err != nil {
		return nil, grpcError(err)
	}
	bs, err := s.Store.Stats(ctx, store.StatsQuery{Filter: f, Step: step})
	if err != nil {
		return nil, grpcError(err)
	}
	out := &sawmillv1.StatsResponse{Step: durationpb.New(step)}
	for _, b := range bs {
		out.Buckets = append(out.Buckets, &sawmillv1.StatsBucket{
			StartUnixNano: uint64(b.Start.UnixNano()), Service: b.Service,
			Severity: sawmillv1.SeverityNumber(b.Severity), Count: b.Count,
		})
	}
	return out, nil
}

// ListServices lists services with rates.
func (s *Service) ListServices(ctx context.Context, _ *sawmillv1.ListServicesRequest) (*sawmillv1.ListServicesResponse, error) {
	svcs, err := ServiceList(ctx, s.Store, s.Hub)
	if err != nil {
		return nil, grpcError(err)
	}
	return &sawmillv1.ListServicesResponse{Services: svcs}, nil
}
