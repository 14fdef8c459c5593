package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// prodEnv is a vhost and a database of one run.
type prodEnv struct {
	amqpURL string
	dbURL   string
	dbName  string
}

// setupProduction creates a RabbitMQ vhost (rabbitmqctl) and a PostgreSQL
// database (psql) named after this process, and returns their URLs and a
// cleanup that removes both.
func setupProduction(ctx context.Context, o Options, logf func(string, ...any)) (prodEnv, func(), error) {
	name := fmt.Sprintf("sawmill_bench_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	au, err := url.Parse(o.AMQPURL)
	if err != nil {
		return prodEnv{}, nil, fmt.Errorf("parse --amqp-url: %w", err)
	}
	pu, err := url.Parse(o.PGURL)
	if err != nil {
		return prodEnv{}, nil, fmt.Errorf("parse --pg-url: %w", err)
	}
	user := "guest"
	if au.User != nil {
		user = au.User.Username()
	}
	run := func(limit time.Duration, name string, args ...string) error { return runCmd(ctx, limit, name, args...) }
	if err := run(60*time.Second, "rabbitmqctl", "add_vhost", name); err != nil {
		return prodEnv{}, nil, err
	}
	cleanupVhost := func() {
		if err := run(60*time.Second, "rabbitmqctl", "delete_vhost", name); err != nil {
			logf("cleanup: %v", err)
		}
	}
	if err := run(60*time.Second, "rabbitmqctl", "set_permissions", "-p", name, user, ".*", ".*", ".*"); err != nil {
		cleanupVhost()
		return prodEnv{}, nil, err
	}
	db, dropDB, err := createDatabase(ctx, o.PGURL, name, logf)
	if err != nil {
		cleanupVhost()
		return prodEnv{}, nil, err
	}
	cleanup := func() {
		cleanupVhost()
		dropDB()
	}
	a := *au
	a.Path = "/" + name
	logf("production: vhost %s on %s, database %s on %s", name, au.Host, name, pu.Host)
	return prodEnv{amqpURL: a.String(), dbURL: db, dbName: name}, cleanup, nil
}

// runCmd runs a command with a time limit and returns its error with its
// output.
func runCmd(ctx context.Context, limit time.Duration, name string, args ...string) error {
	c, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out, err := exec.CommandContext(c, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// createDatabase creates the database name on the PostgreSQL server of
// pgURL (psql) and returns its URL and a drop that removes it.
func createDatabase(ctx context.Context, pgURL, name string, logf func(string, ...any)) (string, func(), error) {
	pu, err := url.Parse(pgURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse --pg-url: %w", err)
	}
	psql := func(sql string) error {
		return runCmd(ctx, 60*time.Second, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pu.String(), "-c", sql)
	}
	if err := psql("CREATE DATABASE " + name); err != nil {
		return "", nil, err
	}
	drop := func() {
		// Retried: the server may be restarting (seen on this shared machine).
		for attempt := 1; ; attempt++ {
			err := psql("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			if err == nil {
				return
			}
			if attempt == 5 {
				logf("cleanup: %v (drop database %s by hand)", err, name)
				return
			}
			time.Sleep(2 * time.Second)
		}
	}
	p := *pu
	p.Path = "/" + name
	return p.String(), drop, nil
}
