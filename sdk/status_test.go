package sawmill_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sawmill-dev/sawmill/sdk"
	"github.com/sawmill-dev/sawmill/sdk/sawmilltest"
)

// firstError returns the first error of type E reported to OnError.
func firstError[E error](t *testing.T, errs <-chan error) E {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-errs:
			var e E
			if errors.As(err, &e) {
				return e
			}
		case <-timeout:
			var e E
			t.Fatalf("no %T reported", e)
			return e
		}
	}
}

func collectErrors(tr sawmill.Transport, errs chan error) func(*sawmill.Config) {
	return func(c *sawmill.Config) {
		c.Transport = tr
		c.OnError = func(err error) {
			select {
			case errs <- err:
			default:
			}
		}
	}
}

// TestErrorsCarryGRPCStatus: the standard helpers (status.Code,
// status.FromError, errors.Is with the context errors) work on what
// OnError receives, for both transports, against a real gRPC server.
func TestErrorsCarryGRPCStatus(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("retried", func(t *testing.T) {
				for _, code := range []codes.Code{codes.Unavailable, codes.ResourceExhausted} {
					srv := sawmilltest.New(t)
					srv.FailNext(1, code, 50*time.Millisecond)
					errs := make(chan error, 64)
					c := newClient(t, srv.Addr(), collectErrors(tr.t, errs))
					logN(t, c, 0, 3)
					se := firstError[*sawmill.SendError](t, errs)
					assert.Equal(t, code, status.Code(se), "status.Code of %v", se)
					st, ok := status.FromError(se)
					require.True(t, ok, "status.FromError finds the status in %v", se)
					assert.Equal(t, code, st.Code())
					var ri *errdetails.RetryInfo
					for _, d := range st.Details() {
						if d, ok := d.(*errdetails.RetryInfo); ok {
							ri = d
						}
					}
					require.NotNil(t, ri, "the server's RetryInfo is a detail of the status")
					assert.Equal(t, 50*time.Millisecond, ri.GetRetryDelay().AsDuration())
					assert.False(t, errors.Is(se, context.DeadlineExceeded))
					closeOK(t, c)
					assert.Equal(t, 3, srv.Count())
				}
			})
			t.Run("rejected", func(t *testing.T) {
				srv := sawmilltest.New(t)
				srv.FailNext(1, codes.InvalidArgument, 0)
				errs := make(chan error, 64)
				c := newClient(t, srv.Addr(), collectErrors(tr.t, errs))
				logN(t, c, 0, 3)
				de := firstError[*sawmill.DropError](t, errs)
				assert.Equal(t, codes.InvalidArgument, status.Code(de))
				st := status.Convert(de)
				var br *errdetails.BadRequest
				for _, d := range st.Details() {
					if d, ok := d.(*errdetails.BadRequest); ok {
						br = d
					}
				}
				require.NotNil(t, br, "the field violations are a BadRequest detail")
				require.NotEmpty(t, br.GetFieldViolations())
				assert.Equal(t, "batch", br.GetFieldViolations()[0].GetField())
				closeOK(t, c)
			})
			t.Run("deadline", func(t *testing.T) {
				srv := sawmilltest.New(t)
				srv.Hold()
				errs := make(chan error, 64)
				c := newClient(t, srv.Addr(), func(cfg *sawmill.Config) {
					collectErrors(tr.t, errs)(cfg)
					cfg.RequestTimeout = 100 * time.Millisecond
				})
				logN(t, c, 0, 3)
				se := firstError[*sawmill.SendError](t, errs)
				srv.Release()
				assert.Equal(t, codes.DeadlineExceeded, status.Code(se))
				assert.ErrorIs(t, se, context.DeadlineExceeded)
				assert.False(t, errors.Is(se, context.Canceled))
				closeOK(t, c)
				assert.Equal(t, 3, srv.Count())
			})
		})
	}
}
