package db_test

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/presenced/presenced/db"
	"github.com/presenced/presenced/db/dbtest"
)

// Pool connections notice a server that went silent (a dead machine) in
// db.DeadPeerTimeout, not in the kernel's default of minutes.
func TestConnectionsDetectDeadPeers(t *testing.T) {
	t.Parallel()
	d := dbtest.MustOpenDB(t)
	c, err := d.Pool().Acquire(ctx)
	ok(t, err)
	defer c.Release()
	tcp, isTCP := c.Conn().PgConn().Conn().(*net.TCPConn)
	if !isTCP {
		t.Fatalf("connection is a %T", c.Conn().PgConn().Conn())
	}
	raw, err := tcp.SyscallConn()
	ok(t, err)
	var userTimeout, keepIdle int
	var serr error
	ok(t, raw.Control(func(fd uintptr) {
		userTimeout, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		if serr == nil {
			keepIdle, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		}
	}))
	ok(t, serr)
	if userTimeout != int(db.DeadPeerTimeout.Milliseconds()) || keepIdle != 5 {
		t.Fatalf("TCP_USER_TIMEOUT %d ms, TCP_KEEPIDLE %d s", userTimeout, keepIdle)
	}
}
