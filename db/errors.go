package db

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

func asPgError(err error) *pgconn.PgError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return nil
}

// isUnavailable reports whether err says the database cannot be reached
// right now (down, restarting, too many connections) or the connection
// died under the statement (its backend killed, the server crashed, the
// network cut: pgx reports an orderly end mid-reply as io.ErrUnexpectedEOF
// or io.EOF, a reset as a net.Error), as opposed to a statement that
// failed: such requests answer 503 with Retry-After and may be retried.
func isUnavailable(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	if pgErr := asPgError(err); pgErr != nil {
		// Class 08: connection exception; 57P01-03: shutdown, crash,
		// cannot connect now; 53300: too many connections; 25006: a
		// read-only transaction, on a server that is (now) a standby.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" ||
			pgErr.Code == "25006"
	}
	// The server went away mid-statement (a primary killed in a failover):
	// the connection ends without an error message.
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
