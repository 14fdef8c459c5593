package sqlite

import (
	"container/list"
	"sync"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// blockCache keeps recently decoded blocks, bounded by their record count,
// evicting the least recently used. Blocks never change once written, so an
// entry is valid until retention deletes its block (then clear is called).
type blockCache struct {
	mu    sync.Mutex
	limit int
	size  int
	ll    *list.List // of *cacheEntry, front = most recent
	byID  map[int64]*list.Element
}

type cacheEntry struct {
	id      int64
	batches []*sawmillv1.LogBatch
	records int
}

func newBlockCache(limit int) *blockCache {
	return &blockCache{limit: limit, ll: list.New(), byID: map[int64]*list.Element{}}
}

func (c *blockCache) get(id int64) ([]*sawmillv1.LogBatch, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*cacheEntry).batches, true
	}
	return nil, false
}

func (c *blockCache) put(id int64, bs []*sawmillv1.LogBatch, records int) {
	if records > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; ok {
		return
	}
	c.byID[id] = c.ll.PushFront(&cacheEntry{id: id, batches: bs, records: records})
	c.size += records
	for c.size > c.limit {
		el := c.ll.Back()
		e := el.Value.(*cacheEntry)
		c.ll.Remove(el)
		delete(c.byID, e.id)
		c.size -= e.records
	}
}

func (c *blockCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	c.byID = map[int64]*list.Element{}
	c.size = 0
}
