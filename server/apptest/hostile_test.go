package apptest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// procKiB reads a field of /proc/<pid>/status (VmRSS, VmHWM) in KiB.
func procKiB(t testing.TB, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// rawCodec sends a []byte request as it is: the bytes a hostile client
// writes by hand.
type rawCodec struct{ encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.([]byte); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// hostilePush encodes a PushRequest of size bytes whose batch is all empty
// records, two bytes each: 16 MiB holds 8.4 million of them.
func hostilePush(size int) (req []byte, records int) {
	res, _ := proto.Marshal(&sawmillv1.Resource{Service: "hostile"})
	head := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "hostile")
	head = protowire.AppendBytes(protowire.AppendTag(head, 2, protowire.BytesType), res)
	n := (size - len(head) - 10) / 2
	batch := make([]byte, 0, len(head)+2*n)
	batch = append(batch, head...)
	for range n {
		batch = append(batch, 3<<3|2, 0)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), batch), n
}

// Memory bounds the test asserts on the server's peak RSS (VmHWM), above
// its peak before the requests. Measured on 2 shared cores: 8
// unauthenticated 16 MiB requests at once raise it by under 1 MiB, 8
// authenticated ones (8.4M records each) by 131 MiB, their wire bytes;
// before the fix a single authenticated one took it to 2 GB in 19-41 s.
const (
	unauthGrowthKiB = 8 << 10   // for all 8 unauthenticated requests together
	authGrowthKiB   = 200 << 10 // for all 8 authenticated ones: 8 x 16 MiB received, plus GC slack
	watchdogKiB     = 1 << 20   // the server is killed above this, so a regression fails the test, not the machine
)

// TestEmbeddedHostileRequests sends 16 MiB requests of 8.4 million empty
// records, 8 at once (4 Push, 4 PushStream), first without a token, then
// with one, and asserts each is answered with the right code in time and
// the server's peak memory stays within a few MiB (unauthenticated: never
// read) and a bound computable from the request size (authenticated:
// refused by a scan of the bytes, never decoded).
func TestEmbeddedHostileRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 256 MiB of requests")
	}
	s := Start(t, "--token", "s3cret")
	pid := s.cmd.Process.Pid
	var peakRSS atomic.Int64
	var killed atomic.Bool
	stop := make(chan struct{})
	watchdog := make(chan struct{})
	go func() {
		defer close(watchdog)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			f, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(f), "\n") {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
					if n > peakRSS.Load() {
						peakRSS.Store(n)
					}
					if n > watchdogKiB {
						killed.Store(true)
						_ = s.cmd.Process.Kill()
						return
					}
				}
			}
		}
	}()
	defer func() { close(stop); <-watchdog }()

	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(32<<20), grpc.ForceCodecV2(rawCodec{encoding.GetCodecV2(protoenc.Name)})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	hostile, records := hostilePush(16<<20 - 64)
	require.Less(t, len(hostile), 16<<20)

	// run sends 4 Push and 4 PushStream requests at once and checks each
	// answer; it returns the slowest answer's time.
	run := func(ctx context.Context, check func(kind string, code codes.Code, msg string, fields map[string]string)) time.Duration {
		var wg sync.WaitGroup
		var slowest atomic.Int64
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				defer cancel()
				start := time.Now()
				defer func() {
					if d := int64(time.Since(start)); d > slowest.Load() {
						slowest.Store(d)
					}
				}()
				if i%2 == 0 {
					err := conn.Invoke(ctx, sawmillv1.IngestService_Push_FullMethodName, hostile, new(sawmillv1.PushResponse))
					st := status.Convert(err)
					fields := map[string]string{}
					for _, d := range st.Details() {
						if br, ok := d.(*errdetails.BadRequest); ok {
							for _, v := range br.GetFieldViolations() {
								fields[v.GetField()] = v.GetDescription()
							}
						}
					}
					check("Push", st.Code(), st.Message(), fields)
					return
				}
				stream, err := conn.NewStream(ctx, &sawmillv1.IngestService_ServiceDesc.Streams[0], sawmillv1.IngestService_PushStream_FullMethodName)
				require.NoError(t, err)
				_ = stream.SendMsg(hostile)
				var resp sawmillv1.PushStreamResponse
				if err := stream.RecvMsg(&resp); err != nil {
					st := status.Convert(err)
					check("PushStream", st.Code(), st.Message(), nil)
					return
				}
				fields := map[string]string{}
				for _, v := range resp.GetFieldViolations() {
					fields[v.GetField()] = v.GetDescription()
				}
				check("PushStream", codes.Code(resp.GetCode()), resp.GetMessage(), fields)
				// The stream goes on after a rejected batch.
				ok, err := proto.Marshal(&sawmillv1.PushStreamRequest{Batch: Batch("after-hostile", 2, time.Now())})
				require.NoError(t, err)
				require.NoError(t, stream.SendMsg(ok))
				resp.Reset()
				require.NoError(t, stream.RecvMsg(&resp))
				assert.Equal(t, uint32(codes.OK), resp.GetCode(), resp.GetMessage())
				require.NoError(t, stream.CloseSend())
			}()
		}
		wg.Wait()
		return time.Duration(slowest.Load())
	}

	time.Sleep(500 * time.Millisecond) // let start-up settle
	hwm0 := procKiB(t, pid, "VmHWM")
	slowest := run(context.Background(), func(kind string, code codes.Code, msg string, _ map[string]string) {
		assert.Equal(t, codes.Unauthenticated, code, "%s without a token: %s", kind, msg)
	})
	require.False(t, killed.Load(), "the server passed %d KiB of RSS and was killed", watchdogKiB)
	hwm1 := procKiB(t, pid, "VmHWM")
	t.Logf("8 unauthenticated 16 MiB requests: peak RSS %d -> %d KiB (+%d KiB), slowest answer %s", hwm0, hwm1, hwm1-hwm0, slowest)
	assert.Less(t, hwm1-hwm0, int64(unauthGrowthKiB), "unauthenticated requests must not be read")

	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer s3cret")
	slowest = run(ctx, func(kind string, code codes.Code, msg string, fields map[string]string) {
		assert.Equal(t, codes.InvalidArgument, code, "%s: %s", kind, msg)
		assert.Contains(t, fields["batch.records"], "more than 10000", "%s: %v", kind, fields)
		assert.Contains(t, fields["batch"], "more than 8388608", "%s: %v", kind, fields)
		assert.Equal(t, fmt.Sprintf("holds %d records, more than 10000", records), fields["batch.records"], kind)
	})
	require.False(t, killed.Load(), "the server passed %d KiB of RSS and was killed", watchdogKiB)
	hwm2 := procKiB(t, pid, "VmHWM")
	t.Logf("8 authenticated 16 MiB requests of %d empty records: peak RSS %d -> %d KiB (+%d KiB), slowest answer %s; sampled peak RSS %d KiB",
		records, hwm1, hwm2, hwm2-hwm1, slowest, peakRSS.Load())
	assert.Less(t, hwm2-hwm0, int64(authGrowthKiB), "authenticated hostile requests: bounded by their wire bytes")

	// The server is fine: the 4 batches sent after the hostile ones on the
	// streams, and one more, are stored.
	c := sawmillv1.NewIngestServiceClient(s.Conn(t))
	_, err = Push(ctx, c, Batch("after-hostile", 3, time.Now()))
	require.NoError(t, err)
	var n struct {
		Count uint64 `json:"count"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.Count != 11 && time.Now().Before(deadline) {
		s.Get(t, "/api/v1/logs/count", nil, &n, "Authorization", "Bearer s3cret")
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, uint64(11), n.Count)
}
