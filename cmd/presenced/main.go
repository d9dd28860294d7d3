// Command presenced is the presence service: an HTTP and SSE server on
// PostgreSQL. Run "presenced help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// serveSummary heads the help of presenced serve.
const serveSummary = `Runs a presenced node: the HTTP API under /v1, SSE streams, the wallboard at /,
metrics at /metrics and the OpenAPI document at /openapi.json. Several nodes may
share one database behind a load balancer; each catches up from the event log.
Logs go to standard error (--log-format json for machines); every request's
lines carry its request id, and --log-level debug logs every request.`

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `presenced — who is online, in which status, since when; live.

Usage:
  presenced [serve] [flags]            run the HTTP and SSE server (the default)
  presenced migrate up|down|status     apply, roll back one, or list migrations
  presenced psql [flags] [-- args]     open psql on the database presenced uses
  presenced token create|list|revoke   manage API tokens
  presenced export YYYY-MM [--out F]   write a UTC month of spells as CSV
  presenced version                    print the version
  presenced help [command]             this help, or a command's flags

Examples:
  presenced                                      start; the first start prints an admin token
  presenced serve --addr :8080 --log-format json --database-url postgres://…/presenced
  presenced token create --scope presence:read --name wallboard
  presenced psql -- -c 'SELECT * FROM report.current_presence'

A node serves the API under /v1, the wallboard at / (open it as
/?access_token=<a presence:read token>), Prometheus metrics at /metrics,
the OpenAPI document at /openapi.json, and /healthz and /readyz.

With no --database-url (or DATABASE_URL), presenced starts a private
PostgreSQL under --data-dir from the PostgreSQL binaries installed locally,
and stops it on exit. Every flag can also be set by the environment variable
shown in its help; a flag wins over the environment.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "presenced:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError is a wrong command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run dispatches a command line; main and the tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "psql":
		return runPsql(ctx, args, stdout, stderr)
	case "token":
		return runToken(ctx, args, stdout, stderr)
	case "export":
		return runExport(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "presenced", version)
		return nil
	case "help", "-h", "--help":
		if len(args) > 0 {
			return run(ctx, []string{args[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}
