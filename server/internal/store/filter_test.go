package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLevels(t *testing.T) {
	for sev, want := range map[int32]struct {
		level int32
		index int
		name  string
	}{
		0: {9, 2, "info"}, 1: {1, 0, "trace"}, 4: {1, 0, "trace"}, 5: {5, 1, "debug"}, 9: {9, 2, "info"},
		12: {9, 2, "info"}, 13: {13, 3, "warn"}, 17: {17, 4, "error"}, 20: {17, 4, "error"},
		21: {21, 5, "fatal"}, 24: {21, 5, "fatal"}, 25: {9, 2, "info"}, -3: {9, 2, "info"},
	} {
		assert.Equal(t, want.level, Level(sev), "Level(%d)", sev)
		assert.Equal(t, want.index, LevelIndex(sev), "LevelIndex(%d)", sev)
		assert.Equal(t, want.name, LevelName(sev), "LevelName(%d)", sev)
	}
}

func TestMatcherText(t *testing.T) {
	m := NewMatcher(Filter{Text: "Card DECLINED"})
	assert.True(t, m.containsText("order 1: card declined by bank"))
	assert.False(t, m.containsText("card decline"))
	k := NewMatcher(Filter{Text: "처리 완료"})
	assert.True(t, k.containsText("주문 1 처리 완료"))
	u := NewMatcher(Filter{Text: "ÉCHEC"})
	assert.True(t, u.containsText("paiement échec"), "non-ASCII text folds case too")
}
