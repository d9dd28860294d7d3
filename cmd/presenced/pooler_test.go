package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestServePoolerFlags(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, errOut, err := runCmd(t, ctx, "serve", "--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "$PRESENCED_LISTEN_DATABASE_URL") ||
		!strings.Contains(errOut, "$PRESENCED_STATEMENT_MODE") {
		t.Fatalf("serve --help: %q %v", errOut, err)
	}
	_, _, err = runCmd(t, ctx, "serve", "--database-url", "postgres://unused", "--statement-mode", "prepared")
	if exitCode(err) != 2 {
		t.Errorf("serve --statement-mode prepared: %v, want a usage error", err)
	}
}
