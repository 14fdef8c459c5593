package rabbitmq

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sawmill-dev/sawmill/server/internal/pipeline"
)

// Queue types.
const (
	QueueQuorum  = "quorum"
	QueueClassic = "classic"
)

// Options configure a Queue; zero values take the defaults.
type Options struct {
	// URL is the broker, amqp://user:pass@host:5672/vhost.
	URL string
	// Exchange is the fanout exchange of log batches (default "sawmill.logs").
	Exchange string
	// Queue is the storage queue (default "sawmill.store"); its dead-letter
	// queue is Queue + ".dead-letter".
	Queue string
	// QueueType is quorum (default; replicated, for clusters) or classic
	// (a classic v2 queue, for single-node brokers).
	QueueType string
	// Prefetch is the unacknowledged messages per storage consumer
	// (default 200; quorum queues need >= 100 to be fast).
	Prefetch int
	// Consumers is the storage consumers of this replica, each with its own
	// channel and database transaction (default 2).
	Consumers int
	// MaxDelivery bounds the messages handed to the Consumer at once (default 32).
	MaxDelivery int
	// PublishChannels is the confirm-mode channels publishes spread over (default 4).
	PublishChannels int
	// ConfirmTimeout bounds the wait for a publisher confirm (default 10s).
	ConfirmTimeout time.Duration
	// LiveMaxBytes bounds this replica's live queue in the broker (default 64 MiB).
	LiveMaxBytes int
	// ConnectTimeout bounds the first connection in New (default 15s).
	ConnectTimeout time.Duration
	// ReconnectMax caps the backoff between reconnection attempts (default 2s).
	ReconnectMax time.Duration
	// Observer sees every batch published by any replica (may be nil).
	Observer pipeline.Observer
	// Name identifies this replica in the broker's connection list.
	Name   string
	Logger *zap.Logger
}

func (o *Options) defaults() error {
	if o.URL == "" {
		return fmt.Errorf("rabbitmq: no broker URL")
	}
	if o.Exchange == "" {
		o.Exchange = "sawmill.logs"
	}
	if o.Queue == "" {
		o.Queue = "sawmill.store"
	}
	switch o.QueueType {
	case "":
		o.QueueType = QueueQuorum
	case QueueQuorum, QueueClassic:
	default:
		return fmt.Errorf("rabbitmq: queue type %q: want quorum or classic", o.QueueType)
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 200
	}
	if o.Consumers <= 0 {
		o.Consumers = 2
	}
	if o.MaxDelivery <= 0 {
		o.MaxDelivery = 32
	}
	if o.PublishChannels <= 0 {
		o.PublishChannels = 4
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = 10 * time.Second
	}
	if o.LiveMaxBytes <= 0 {
		o.LiveMaxBytes = 64 << 20
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 15 * time.Second
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 2 * time.Second
	}
	if o.Name == "" {
		o.Name = "sawmill"
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return nil
}

// deadLetterQueue is the name of the dead-letter queue.
func (o *Options) deadLetterQueue() string { return o.Queue + ".dead-letter" }
