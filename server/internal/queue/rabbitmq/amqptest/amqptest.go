// Package amqptest gives tests their own RabbitMQ virtual host on the
// broker named by SAWMILL_TEST_AMQP_URL (default: the local broker on
// 127.0.0.1:5672, guest/guest), created and deleted with rabbitmqctl.
package amqptest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DefaultURL is the broker used when SAWMILL_TEST_AMQP_URL is unset.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// BaseURL returns the broker URL tests derive their vhost URLs from.
func BaseURL() string {
	if u := os.Getenv("SAWMILL_TEST_AMQP_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var seq atomic.Int64

// Ctl runs rabbitmqctl with args.
func Ctl(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %v: %w: %s", args, err, out)
	}
	return nil
}

// NewVhost creates a vhost for t, grants guest access and returns its URL;
// the vhost is deleted when t ends.
func NewVhost(t testing.TB) (amqpURL, vhost string) {
	t.Helper()
	vhost = fmt.Sprintf("sawmill-test-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	if err := Ctl("add_vhost", vhost); err != nil {
		t.Fatalf("amqptest: %v", err)
	}
	t.Cleanup(func() {
		// The broker may be restarting after a fault test: retry a while.
		var err error
		for i := 0; i < 30; i++ {
			if err = Ctl("delete_vhost", vhost); err == nil {
				return
			}
			time.Sleep(time.Second)
		}
		t.Errorf("amqptest: %v", err)
	})
	if err := Grant(vhost); err != nil {
		t.Fatalf("amqptest: %v", err)
	}
	u, err := url.Parse(BaseURL())
	if err != nil {
		t.Fatalf("amqptest: parse %s: %v", BaseURL(), err)
	}
	u.Path = "/" + vhost
	return u.String(), vhost
}

// Grant gives guest full access to vhost.
func Grant(vhost string) error { return Ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*") }

// Revoke removes guest's access to vhost, so connections to it are refused.
func Revoke(vhost string) error { return Ctl("clear_permissions", "-p", vhost, "guest") }

// CloseConnections closes every client connection to vhost.
func CloseConnections(vhost string) error {
	return Ctl("close_all_connections", "-p", vhost, "closed by a sawmill test")
}

// MemoryAlarm raises the broker's memory alarm (a watermark no broker is
// under) until the returned function, also run when t ends, restores the
// watermark it found. The alarm blocks every publisher of the broker: keep
// it as short as possible.
func MemoryAlarm(t testing.TB) (clear func()) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "eval", "vm_memory_monitor:get_vm_memory_high_watermark().").CombinedOutput()
	if err != nil {
		t.Fatalf("amqptest: read the memory watermark: %v: %s", err, out)
	}
	// 0.4, or {absolute,1073741824}
	old := strings.TrimSpace(string(out))
	restoreArgs := []string{"set_vm_memory_high_watermark", old}
	if v, ok := strings.CutPrefix(old, "{absolute,"); ok {
		restoreArgs = []string{"set_vm_memory_high_watermark", "absolute", strings.TrimSuffix(v, "}")}
	}
	if err := Ctl("set_vm_memory_high_watermark", "0.0000001"); err != nil {
		t.Fatalf("amqptest: %v", err)
	}
	var once sync.Once
	clear = func() {
		once.Do(func() {
			if err := Ctl(restoreArgs...); err != nil {
				t.Errorf("amqptest: restore the memory watermark (%s): %v", old, err)
			}
		})
	}
	t.Cleanup(clear)
	return clear
}
