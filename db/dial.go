package db

import (
	"net"
	"time"
)

// DeadPeerTimeout is how long a connection to a server that went silent —
// a machine that died without closing its connections, a network cut — may
// go unanswered before it counts as broken: unacknowledged data for this
// long (TCP_USER_TIMEOUT, on Linux), or an idle connection whose keepalive
// probes go unanswered (5 s idle, then 3 probes 2 s apart). A statement on
// such a connection then fails (503) instead of waiting for the operating
// system's own timeouts, which take minutes: a failover must not hang a
// request or the listener that long. A server that is alive but slow is
// not affected: it acknowledges what it receives.
const DeadPeerTimeout = 12 * time.Second

// dialer returns the dialer of every database connection.
func dialer() *net.Dialer {
	return &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3},
		Control:         setUserTimeout(DeadPeerTimeout),
	}
}
