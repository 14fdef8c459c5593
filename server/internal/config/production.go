package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// Production is the configuration of the production pipeline: RabbitMQ
// between ingest and the store, PostgreSQL (TimescaleDB when available) as
// the store. Which of AMQPURL and DatabaseURL are set selects the mode:
//
//	neither          embedded queue + SQLite (one process)
//	DatabaseURL      PostgreSQL without a broker: an ack means committed
//	both             RabbitMQ + PostgreSQL: stateless replicas
//
// AMQPURL alone is refused: replicas sharing a broker need a shared store.
type Production struct {
	AMQPURL         string
	AMQPQueueType   string // quorum or classic
	AMQPExchange    string
	AMQPQueue       string
	AMQPPrefetch    int
	AMQPConsumers   int
	DatabaseURL     string
	DatabaseConns   int
	TimescaleDB     string // auto, require or off
	ReplicaName     string
	StoreWriteBatch int // direct mode: batches per transaction
}

// Enabled reports whether a production mode is configured.
func (p Production) Enabled() bool { return p.AMQPURL != "" || p.DatabaseURL != "" }

func (p *Production) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.AMQPURL, "amqp-url", "", "RabbitMQ URL (amqp://user:pass@host:5672/vhost) of the production queue; needs --database-url")
	fs.StringVar(&p.AMQPQueueType, "amqp-queue-type", "quorum", "storage queue type: quorum (replicated, for clusters) or classic (classic v2, for a single-node broker)")
	fs.StringVar(&p.AMQPExchange, "amqp-exchange", "sawmill.logs", "fanout exchange of log batches")
	fs.StringVar(&p.AMQPQueue, "amqp-queue", "sawmill.store", "durable storage queue (its dead-letter queue is <name>.dead-letter)")
	fs.IntVar(&p.AMQPPrefetch, "amqp-prefetch", 200, "unacknowledged messages per storage consumer (1 message = 1 batch); quorum queues need at least 100")
	fs.IntVar(&p.AMQPConsumers, "amqp-consumers", 2, "storage consumers per replica, each with its own channel and database transaction")
	fs.StringVar(&p.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://user:pass@host:5432/db) of the production store; alone: PostgreSQL without a broker")
	fs.IntVar(&p.DatabaseConns, "database-max-conns", 8, "PostgreSQL connections per replica")
	fs.StringVar(&p.TimescaleDB, "timescaledb", "auto", "use TimescaleDB when the schema is created: auto (when the extension is available), require, or off (native daily partitions)")
	fs.StringVar(&p.ReplicaName, "replica-name", "", "this replica's name in the broker's connection list; default the host name")
	fs.IntVar(&p.StoreWriteBatch, "store-write-batches", 64, "most batches stored in one database transaction")
}

func (p Production) validate() []error {
	var errs []error
	if p.AMQPURL != "" && p.DatabaseURL == "" {
		errs = append(errs, errors.New("--amqp-url needs --database-url: replicas sharing a broker need a shared store"))
	}
	if p.AMQPURL != "" {
		if u, err := url.Parse(p.AMQPURL); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
			errs = append(errs, errors.New("--amqp-url: want amqp://user:pass@host:port/vhost (or amqps://)"))
		}
	}
	if p.DatabaseURL != "" {
		u, err := url.Parse(p.DatabaseURL)
		isURL := err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
		isDSN := !strings.Contains(p.DatabaseURL, "://") && strings.Contains(p.DatabaseURL, "=")
		if !isURL && !isDSN {
			errs = append(errs, errors.New("--database-url: want postgres://user:pass@host:port/db or a key=value DSN"))
		}
	}
	switch p.AMQPQueueType {
	case "quorum", "classic":
	default:
		errs = append(errs, fmt.Errorf("--amqp-queue-type %q: want quorum or classic", p.AMQPQueueType))
	}
	if p.AMQPPrefetch < 1 || p.AMQPPrefetch > 65535 {
		errs = append(errs, fmt.Errorf("--amqp-prefetch %d: want 1-65535", p.AMQPPrefetch))
	} else if p.AMQPQueueType == "quorum" && p.AMQPPrefetch < 100 {
		errs = append(errs, fmt.Errorf("--amqp-prefetch %d: quorum queues need at least 100 (below it they deliver a few thousand messages/s)", p.AMQPPrefetch))
	}
	if p.AMQPConsumers < 1 || p.AMQPConsumers > 64 {
		errs = append(errs, fmt.Errorf("--amqp-consumers %d: want 1-64", p.AMQPConsumers))
	}
	if p.AMQPExchange == "" || p.AMQPQueue == "" {
		errs = append(errs, errors.New("--amqp-exchange and --amqp-queue must not be empty"))
	}
	if p.DatabaseConns < 2 || p.DatabaseConns > 1000 {
		errs = append(errs, fmt.Errorf("--database-max-conns %d: want 2-1000", p.DatabaseConns))
	}
	switch p.TimescaleDB {
	case "auto", "require", "off":
	default:
		errs = append(errs, fmt.Errorf("--timescaledb %q: want auto, require or off", p.TimescaleDB))
	}
	if p.StoreWriteBatch < 1 || p.StoreWriteBatch > 10000 {
		errs = append(errs, fmt.Errorf("--store-write-batches %d: want 1-10000", p.StoreWriteBatch))
	}
	return errs
}
