package db_test

import (
	"context"
	"os"
	"testing"

	"go.uber.org/goleak"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
)

func TestMain(m *testing.M) {
	code := dbtest.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			println("goroutine leak:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

var ctx = context.Background()

func ptr[T any](v T) *T { return &v }

// mustCode fails t unless err is a presence error of the given class.
func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := presence.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func mustReason(t *testing.T, err error, reason string) {
	t.Helper()
	if got := presence.ErrorReason(err); got != reason {
		t.Fatalf("error reason = %q (%v), want %q", got, err, reason)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
