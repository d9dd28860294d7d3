package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestServeHeartbeatFlags(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, errOut, err := runCmd(t, ctx, "serve", "--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut, "$PRESENCED_HEARTBEAT_INTERVAL") ||
		!strings.Contains(errOut, "$PRESENCED_MAX_MISSED_HEARTBEATS") || !strings.Contains(errOut, "20s") {
		t.Fatalf("serve --help: %q %v", errOut, err)
	}
	for _, args := range [][]string{
		{"--max-missed-heartbeats", "0"},
		{"--heartbeat-interval", "0s"},
		{"--heartbeat-interval", "-5s"},
	} {
		_, _, err := runCmd(t, ctx, append([]string{"serve", "--database-url", "postgres://unused"}, args...)...)
		if exitCode(err) != 2 {
			t.Errorf("serve %v: %v, want a usage error", args, err)
		}
	}
}
