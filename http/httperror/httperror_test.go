package httperror_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/http/httperror"
)

// Every class has its own status, but ERESET shares 503 with
// EUNAVAILABLE; Code inverts Status for the others.
func TestStatusCode(t *testing.T) {
	for _, code := range []string{presence.EINVALID, presence.EBADREQUEST, presence.ENOTFOUND, presence.EMETHOD,
		presence.ECONFLICT, presence.ETOOLARGE, presence.ETIMEOUT, presence.EUNAUTHORIZED, presence.EFORBIDDEN,
		presence.ERATELIMIT, presence.EUNAVAILABLE, presence.EINTERNAL} {
		if got := httperror.Code(httperror.Status(code)); got != code {
			t.Errorf("Code(Status(%s)) = %s", code, got)
		}
	}
	if got := httperror.Status(presence.ERESET); got != http.StatusServiceUnavailable {
		t.Errorf("Status(reset) = %d", got)
	}
	if got := httperror.Status("no_such_class"); got != http.StatusInternalServerError {
		t.Errorf("Status of an unknown class = %d", got)
	}
	if got := httperror.Code(http.StatusBadGateway); got != presence.EUNAVAILABLE {
		t.Errorf("Code(502) = %s", got)
	}
}

// What Write answers, Read reads back as the same error.
func TestWriteRead(t *testing.T) {
	for _, err := range []error{
		presence.ReasonErrorf(presence.EUNAUTHORIZED, "token_expired", "The token has expired."),
		presence.Errorf(presence.EINVALID, "Topic %q is not valid.", "x"),
		presence.Errorf(presence.EUNAVAILABLE, "Retry."),
	} {
		rec := httptest.NewRecorder()
		httperror.Write(rec, err)
		resp := rec.Result()
		if resp.Header.Get("Content-Type") != "application/json" ||
			(resp.StatusCode == http.StatusServiceUnavailable) != (resp.Header.Get("Retry-After") == "1") {
			t.Errorf("%v: %d %v", err, resp.StatusCode, resp.Header)
		}
		got := httperror.Read(resp)
		if got.Code != presence.ErrorCode(err) || presence.ErrorReason(got) != presence.ErrorReason(err) || got.Message != presence.ErrorMessage(err) {
			t.Errorf("wrote %v, read %v", err, got)
		}
	}

	// An internal error's detail stays on the server.
	rec := httptest.NewRecorder()
	httperror.Write(rec, errors.New("pq: relation does not exist"))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "relation") ||
		rec.Body.String() != `{"error":{"code":"internal","message":"Internal error."}}`+"\n" {
		t.Errorf("internal error answered %d %s", rec.Code, rec.Body)
	}

	// A proxy's answer has no JSON body: its status is all there is.
	resp := &http.Response{StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway", Body: http.NoBody}
	if got := httperror.Read(resp); got.Code != presence.EUNAVAILABLE || !strings.Contains(got.Message, "502") {
		t.Errorf("read %v", got)
	}
}
