package db_test

import (
	"context"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/internal/presencetest"
)

func TestMain(m *testing.M) { presencetest.Main(m, dbtest.Stop) }

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
