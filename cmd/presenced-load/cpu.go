//go:build unix

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is the CPU time used so far by this process (key 0), by the
// given children (nodes) and by every process of the private PostgreSQL.
// On a machine shared with other work the throughput measures the
// neighbours as much as presenced; the CPU a change costs does not.
type cpuSample map[int]time.Duration

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTick = 10 * time.Millisecond

// procStat returns a process's CPU time and parent from /proc.
func procStat(pid int) (cpu time.Duration, ppid int, ok bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3, state
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * clockTick, ppid, true
}

// cpu samples this process, the nodes pids and PostgreSQL (when the load
// program started it: the postmaster and its children).
func (e *env) cpu(pids ...int) cpuSample {
	s := cpuSample{}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s[0] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for _, pid := range pids {
		if c, _, ok := procStat(pid); ok {
			s[pid] = c
		}
	}
	if e.cluster == nil {
		return s
	}
	raw, err := os.ReadFile(filepath.Join(e.cluster.DataDir(), "pgdata", "postmaster.pid"))
	if err != nil {
		return s
	}
	postmaster, _ := strconv.Atoi(strings.SplitN(string(raw), "\n", 2)[0])
	if c, _, ok := procStat(postmaster); ok {
		s[postmaster] = c
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if c, ppid, ok := procStat(pid); ok && ppid == postmaster {
			s[pid] = c
		}
	}
	return s
}

// cpuUse is CPU time used by PostgreSQL, by the nodes and by this
// process (the load clients).
type cpuUse struct{ pg, nodes, load time.Duration }

func (u cpuUse) total() time.Duration { return u.pg + u.nodes + u.load }

func (u *cpuUse) add(v cpuUse) { u.pg += v.pg; u.nodes += v.nodes; u.load += v.load }

// since is the CPU used between an earlier sample and s, nodes being
// the given pids. A process that started in between counts whole; one
// that ended in between is missed (the pools keep their connections, so
// few do).
func (s cpuSample) since(earlier cpuSample, nodes ...int) cpuUse {
	var u cpuUse
	for pid, c := range s {
		d := c - earlier[pid]
		switch {
		case pid == 0:
			u.load += d
		case slices.Contains(nodes, pid):
			u.nodes += d
		default:
			u.pg += d
		}
	}
	return u
}
