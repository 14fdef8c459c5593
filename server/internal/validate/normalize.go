package validate

import (
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// levelNames are the names of the six severity levels, in scale order.
var levelNames = [...]string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}

// LevelName returns the name of the level sev belongs to ("TRACE", "DEBUG",
// "INFO", "WARN", "ERROR" or "FATAL"); 0 and out-of-range values are "INFO".
func LevelName(sev sawmillv1.SeverityNumber) string {
	if sev < 1 || sev > MaxSeverityNumber {
		return "INFO"
	}
	return levelNames[(sev-1)/4]
}

// Normalize fills the defaults of a valid batch in place: an observed time
// of 0 becomes now, a time of 0 the observed time, severity number 0 becomes
// INFO (9) and an empty severity text the level name of the severity number.
// A batch valid before Normalize (for the same now) stays valid.
func Normalize(b *sawmillv1.LogBatch, now time.Time) {
	ns := uint64(now.UnixNano())
	for _, r := range b.GetRecords() {
		if r == nil {
			continue
		}
		if r.ObservedTimeUnixNano == 0 {
			r.ObservedTimeUnixNano = ns
		}
		if r.TimeUnixNano == 0 {
			r.TimeUnixNano = r.ObservedTimeUnixNano
		}
		if r.SeverityNumber == sawmillv1.SeverityNumber_SEVERITY_NUMBER_UNSPECIFIED {
			r.SeverityNumber = sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO
		}
		if r.SeverityText == "" {
			r.SeverityText = LevelName(r.SeverityNumber)
		}
	}
}
