package sqlite

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Long messages have more distinct words than the old per-record sizing
// allowed for; the filter must still rule out absent words and attribute
// values nearly always (it was ~100% false positives for 1 KB messages).
func TestFilterPrunesLongMessages(t *testing.T) {
	for _, sh := range fpShapes {
		if sh.name != "random1k" && sh.name != "longline" {
			continue
		}
		t.Run(sh.name, func(t *testing.T) {
			r := measureFP(t, sh, 2048, 400)
			t.Logf("%s: text %.1f%%, num %.1f%%, attr %.1f%% false positives, %.1f filter bytes a record",
				sh.name, 100*r.textFP, 100*r.numFP, 100*r.attrFP, float64(r.filterBytes)/float64(r.records))
			// ~0.8% expected; 400 probes keep a 4% bound far from flaky.
			assert.Less(t, r.textFP, 0.04, "text")
			assert.Less(t, r.numFP, 0.04, "num")
			assert.Less(t, r.attrFP, 0.04, "attr")
		})
	}
}

// Whatever is in a block, its filter lets it through: every substring of
// every message (ASCII or not, any case) and every top-level attribute.
func TestFilterHasNoFalseNegatives(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	bodies := []string{"Order 482913 created for user 77310", "주문 생성 완료 ORDER-7", "ÉCHEC de connexion: Timeout après 30 s", "a", "ab", "", "GET /api/v1/orders/3f2a?x=1 HTTP/1.1"}
	b := &sawmillv1.LogBatch{BatchId: "x", Resource: &sawmillv1.Resource{Service: "s"}}
	for i, body := range bodies {
		b.Records = append(b.Records, &sawmillv1.LogRecord{Body: body, AttributesJson: fmt.Appendf(nil, `{"k%d":"v %d","n":%d,"b":true,"esc":"a\"b"}`, i, i, i)})
	}
	c := &codec{}
	for _, n := range []int{1, 2} { // a second build reuses the builder
		blk, _, err := c.build("s", []*sawmillv1.LogBatch{b}, nil)
		require.NoError(t, err, n)
		require.Equal(t, filterV2, blk.filter.version())
		for _, body := range bodies {
			lc := []rune(strings.ToLower(body))
			for range 50 {
				if len(lc) == 0 {
					break
				}
				i := rng.IntN(len(lc))
				j := i + 1 + rng.IntN(len(lc)-i)
				needle := string(lc[i:j])
				assert.True(t, mayMatchText(store.NewMatcher(store.Filter{Text: strings.ToUpper(needle)}), blk.filter), "%q in %q", needle, body)
			}
		}
		for i := range bodies {
			for _, a := range []store.AttrMatch{{Key: fmt.Sprint("k", i), Value: fmt.Sprint("v ", i)}, {Key: "n", Value: fmt.Sprint(i)}, {Key: "b", Value: "true"}, {Key: "esc", Value: `a"b`}} {
				assert.True(t, mayMatchText(store.NewMatcher(store.Filter{Attrs: []store.AttrMatch{a}}), blk.filter), "%v", a)
			}
		}
		assert.False(t, mayMatchText(store.NewMatcher(store.Filter{Text: "xyzzy"}), blk.filter), "absent trigrams")
		assert.False(t, mayMatchText(store.NewMatcher(store.Filter{Attrs: []store.AttrMatch{{Key: "k1", Value: "v 2"}}}), blk.filter), "absent pair")
	}
}

func TestFilterSize(t *testing.T) {
	const maxBits = filterMaxBytes * 8
	for _, tc := range []struct {
		name       string
		nTok, nTri int
		m, k       int
		trigrams   bool
	}{
		{"empty block", 0, 0, 64, filterK, true},
		{"small block", 1000, 500, 15040, filterK, true},
		{"all fit", 600_000, 200_000, 8_000_000, filterK, true},
		{"trigrams left out", 800_000, 100_000, 8_000_000, filterK, false},
		{"fewer bits an item", 1_500_000, 10_000, maxBits, 4, false},
		{"too many distinct items: no filter", maxBits/filterMinBitsPerItem + 1, 0, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, k, tri := filterSize(tc.nTok, tc.nTri)
			assert.Equal(t, tc.m, m, "m")
			assert.Equal(t, tc.k, k, "k")
			assert.Equal(t, tc.trigrams, tri, "trigrams")
			assert.Zero(t, m%64)
		})
	}
}

// A block with too many distinct items gets no filter, which lets every
// query through rather than answering wrongly.
func TestFilterNoFilterLetsAllThrough(t *testing.T) {
	var fb filterBuilder
	for i := range maxBits() / filterMinBitsPerItem * 5 / 4 {
		fb.toks.add(uint64(i) * mix)
	}
	f := fb.build()
	require.Equal(t, filterV2, f.version())
	assert.Len(t, f, 3, "no bits")
	for _, f := range []filter{f, nil, {3, 0, 0}, {9, 9, 9, 9}} {
		assert.True(t, f.mayContain(" anything "), "%v", f)
		assert.True(t, f.mayHaveAttr("k", "v"), "%v", f)
	}
}

func maxBits() int { return filterMaxBytes * 8 }

func TestHashSet(t *testing.T) {
	var s hashSet
	want := map[uint64]bool{}
	rng := rand.New(rand.NewPCG(2, 2))
	for range 5000 {
		h := rng.Uint64N(3000) // repeats, and 0
		s.add(h)
		want[h] = true
	}
	assert.Equal(t, len(want), s.len())
	got := map[uint64]bool{}
	s.each(func(h uint64) { got[h] = true })
	assert.Equal(t, want, got)
	s.reset()
	assert.Zero(t, s.len())
}
