// Package pgtest gives tests their own PostgreSQL database on the server
// named by SAWMILL_TEST_DATABASE_URL (default: the local PostgreSQL on
// 127.0.0.1:5432, user postgres, database test), dropped when the test ends.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the admin connection used when SAWMILL_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminURL returns the URL tests create their databases through.
func AdminURL() string {
	if u := os.Getenv("SAWMILL_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var seq atomic.Int64

// NewDatabase creates an empty database for t and returns its URL; it is
// dropped (connections terminated) when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", AdminURL(), err)
	}
	defer admin.Close(context.Background())
	name := fmt.Sprintf("sawmill_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { Drop(t, name) })
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", AdminURL(), err)
	}
	u.Path = "/" + name
	return u.String()
}

// Drop drops database name, terminating its connections.
func Drop(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		admin, err := pgx.Connect(ctx, AdminURL())
		if err == nil {
			_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			admin.Close(context.Background())
		}
		if err == nil {
			return
		}
		if attempt >= 30 || ctx.Err() != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		time.Sleep(time.Second) // PostgreSQL may be restarting after a fault test
	}
}

// Name returns the database name of a URL made by NewDatabase.
func Name(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// Poison makes the database at dbURL (a Sawmill store, migrated) refuse
// every record whose body is body, with SQLSTATE 22023
// (invalid_parameter_value) from a trigger: a batch that validation accepts
// and PostgreSQL cannot store, for tests of the dead-letter path.
func Poison(t testing.TB, dbURL, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", dbURL, err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `CREATE FUNCTION sawmill_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.body = `+quote(body)+` THEN
		RAISE EXCEPTION 'poisoned record in batch %', NEW.batch_id USING ERRCODE = '22023';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER sawmill_test_poison BEFORE INSERT ON logs FOR EACH ROW EXECUTE FUNCTION sawmill_test_poison();`)
	if err != nil {
		t.Fatalf("pgtest: poison %q: %v", body, err)
	}
}

// quote is a SQL string literal of s.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
