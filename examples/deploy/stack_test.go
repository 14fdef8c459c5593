package deploy

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reachable reports whether something listens on a loopback address.
func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// productionAvailable reports whether this machine can run the stack in
// production mode, and why not.
func productionAvailable() (bool, string) {
	for _, tool := range []string{"rabbitmqctl", "psql"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false, tool + " not on PATH"
		}
	}
	for _, a := range []string{"127.0.0.1:5672", "127.0.0.1:5432"} {
		if !reachable(a) {
			return false, "nothing listens on " + a
		}
	}
	return true, ""
}

// TestStackLocal runs scripts/stack-local.sh: sawmill in production mode
// (two replicas on a fresh RabbitMQ vhost and PostgreSQL database) and the
// three example services as processes on loopback; the script fails unless
// every expected log arrives in both replicas and the services' last logs
// are flushed on SIGTERM. Without RabbitMQ or PostgreSQL on this machine it
// runs in embedded mode, except under CI, where it fails.
func TestStackLocal(t *testing.T) {
	root := repoRoot(t)
	mode := "production"
	if ok, why := productionAvailable(); !ok {
		require.Empty(t, os.Getenv("CI"), "CI must provide RabbitMQ and PostgreSQL on 127.0.0.1 (.ci/run starts them): %s", why)
		t.Logf("production mode unavailable (%s): running the stack in embedded mode", why)
		mode = "embedded"
	}
	for _, tool := range []string{"bash", "go", "node", "npm"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the stack needs %s", tool)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "stack-local.sh"), "--mode", mode)
	cmd.Dir = root
	// On timeout the script gets SIGTERM, so its trap stops the processes
	// and drops the vhost and the database; SIGKILL a minute later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("scripts/stack-local.sh --mode %s:\n%s", mode, out.String())
	require.NoError(t, err)

	text := out.String()
	assert.Regexp(t, `stack check passed: \d+ expectations, services orders, users, payments`, text)
	assert.Contains(t, text, "stack check passed: the last log of every service arrived")
	if mode == "embedded" {
		assert.Contains(t, text, "PASS (embedded mode, 1 sawmill replica(s)")
		return
	}
	assert.Contains(t, text, "PASS (production mode, 2 sawmill replica(s)")

	// The script cleaned up after itself.
	m := regexp.MustCompile(`created vhost (\S+) and database (\S+)`).FindStringSubmatch(text)
	require.NotNil(t, m, "the script names its vhost and database")
	vhosts, err := exec.Command("rabbitmqctl", "-q", "list_vhosts").CombinedOutput()
	require.NoError(t, err, string(vhosts))
	assert.NotContains(t, string(vhosts), m[1], "vhost deleted")
	dbs, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc",
		"SELECT datname FROM pg_database").CombinedOutput()
	require.NoError(t, err, string(dbs))
	assert.NotContains(t, string(dbs), m[2], "database dropped")
}
