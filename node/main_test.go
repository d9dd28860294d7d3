package node_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

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
