package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	cpuTicks uint64 // utime + stime
	rssBytes uint64 // VmRSS (or Pss when pss is asked for)
	hwmBytes uint64 // VmHWM
}

// readProc reads /proc/PID/stat and /proc/PID/status (or smaps_rollup for
// Pss, which shares shared memory among the processes that map it).
func readProc(pid int, pss bool) (procSample, bool) {
	var s procSample
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, false
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, false
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	s.cpuTicks = ut + st
	if pss {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup"); err == nil {
			s.rssBytes = kbField(b, "Pss:")
			return s, true
		}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, false
	}
	s.rssBytes = kbField(b, "VmRSS:")
	s.hwmBytes = kbField(b, "VmHWM:")
	return s, true
}

// kbField returns the "Name:   123 kB" field of a /proc file in bytes.
func kbField(b []byte, name string) uint64 {
	i := bytes.Index(b, []byte(name))
	if i < 0 {
		return 0
	}
	line := b[i+len(name):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseUint(f[0], 10, 64)
	return v * 1024
}

// pidsByComm lists the processes whose command name is one of names and
// whose command line keep accepts (nil: all).
func pidsByComm(keep func(cmdline string) bool, names ...string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		comm, err := os.ReadFile(d + "/comm")
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(comm))
		for _, n := range names {
			if c != n {
				continue
			}
			if keep != nil {
				cl, err := os.ReadFile(d + "/cmdline")
				if err != nil || !keep(strings.ReplaceAll(string(cl), "\x00", " ")) {
					continue
				}
			}
			if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// Group follows the CPU and memory of a set of processes: the fixed pid of
// sawmill, or every process named like the broker or the database (whose
// backends come and go).
type Group struct {
	Name  string
	pid   int      // fixed pid, or 0
	comms []string // process names, when pid is 0
	keep  func(cmdline string) bool
	pss   bool

	mu       sync.Mutex
	base     map[int]uint64 // CPU ticks at start per pid
	last     map[int]uint64 // latest CPU ticks per pid
	peakRSS  uint64         // highest sum of RSS (or Pss) seen
	peakHWM  uint64         // VmHWM of the fixed pid
	started  bool
	sampleAt time.Time
}

// NewPIDGroup follows one process.
func NewPIDGroup(name string, pid int) *Group {
	return &Group{Name: name, pid: pid, base: map[int]uint64{}, last: map[int]uint64{}}
}

// NewCommGroup follows every process with one of the names whose command
// line keep accepts (nil: all), memory as Pss.
func NewCommGroup(name string, keep func(cmdline string) bool, comms ...string) *Group {
	return &Group{Name: name, comms: comms, keep: keep, pss: true, base: map[int]uint64{}, last: map[int]uint64{}}
}

// postgresOf keeps the PostgreSQL processes that work for database db: its
// backends and autovacuum workers, and the shared server processes
// (postmaster, WAL writer, checkpointer, background writer, ...), but not
// the backends of other databases on the same server. (Our own parallel
// workers and TimescaleDB scheduler are missed: they name no database.)
func postgresOf(db string) func(string) bool {
	return func(cmdline string) bool {
		if strings.Contains(cmdline, " "+db+" ") || strings.HasSuffix(strings.TrimSpace(cmdline), " "+db) {
			return true
		}
		// Per-database or per-query processes of other databases: client
		// backends ("db 127.0.0.1(port)", "[local]"), autovacuum workers,
		// parallel workers and TimescaleDB's per-database schedulers.
		for _, other := range []string{"(", "[local]", "autovacuum worker", "parallel worker", "for database"} {
			if strings.Contains(cmdline, other) {
				return false
			}
		}
		return true
	}
}

// Sample reads every process of the group once. The first call sets the
// CPU baseline; processes that appear later count from zero.
func (g *Group) Sample() {
	pids := []int{g.pid}
	if g.pid == 0 {
		pids = pidsByComm(g.keep, g.comms...)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var rss uint64
	for _, pid := range pids {
		s, ok := readProc(pid, g.pss)
		if !ok {
			continue
		}
		if _, seen := g.base[pid]; !seen {
			if g.started {
				g.base[pid] = 0
			} else {
				g.base[pid] = s.cpuTicks
			}
		}
		g.last[pid] = s.cpuTicks
		rss += s.rssBytes
		if g.pid != 0 && s.hwmBytes > g.peakHWM {
			g.peakHWM = s.hwmBytes
		}
	}
	g.started = true
	g.peakRSS = max(g.peakRSS, rss)
	g.sampleAt = time.Now()
}

// CPUSeconds is the CPU time the group used since the first sample.
func (g *Group) CPUSeconds() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var t uint64
	for pid, last := range g.last {
		t += last - min(last, g.base[pid])
	}
	return float64(t) / clockTicks
}

// PeakRSSBytes is the highest memory seen: VmHWM for a single process (the
// kernel's own peak, between samples too), else the highest sampled sum.
func (g *Group) PeakRSSBytes() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(g.peakRSS, g.peakHWM)
}
