//go:build unix

package pgcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// checkPlatform returns nil: pgcluster runs on Unix (unsupported.go says
// what happens elsewhere).
func checkPlatform() error { return nil }

// sysProcAttr puts a server-side process in a process group of its own, so
// that a Ctrl-C on the terminal reaches only the calling process (which
// stops the server), and runs it as u when u is not nil.
func sysProcAttr(u *osUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u != nil {
		attr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
	}
	return attr
}

// checkTraversable checks that u can traverse dir and every parent of it
// (symlinks resolved). Supplementary groups are not set for the server
// processes, so only the primary group counts.
func checkTraversable(dir string, u *osUser) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	for d := real; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == u.uid:
			can = perm&0o100 != 0
		case st.Gid == u.gid:
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return fmt.Errorf("pgcluster: directory %s (mode %04o, owner uid %d) is not traversable by OS user %q (uid %d), which runs PostgreSQL because this process runs as root: chmod o+x it (t.TempDir and os.MkdirTemp create 0700 directories) or use a data directory elsewhere", d, perm, st.Uid, runAsUser, u.uid)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// checkOwner checks that an existing cluster belongs to u.
func checkOwner(pgData string, u *osUser) error {
	fi, err := os.Stat(pgData)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != u.uid {
		return fmt.Errorf("pgcluster: cluster directory %s is owned by uid %d, not by OS user %q (uid %d) that runs PostgreSQL: chown -R it or remove it", pgData, st.Uid, runAsUser, u.uid)
	}
	return nil
}

// killServer sends SIGKILL to the postmaster pid and to its children, the
// backends. Each backend leads a process group of its own (PostgreSQL's
// children call setsid), so the children are found by their parent, from
// /proc, while the postmaster is stopped and cannot fork more. Without
// /proc only the postmaster is killed.
func killServer(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	children := childrenOf(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL) // it may have exited meanwhile
	}
	return nil
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold anything, even ")".
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
