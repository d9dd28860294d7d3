package http

import (
	"fmt"
	"testing"

	presence "github.com/presenced/presenced"
)

func TestBulkCacheIsBoundedAndDropsOldPositions(t *testing.T) {
	var c bulkCache
	a, b := presence.Position{Xid: 5, ID: 1}, presence.Position{Xid: 6, ID: 2}
	for i := range 3 * bulkCacheEntries {
		c.put(fmt.Sprint("q", i), a, []byte("x"))
	}
	if n := len(c.entries); n != bulkCacheEntries {
		t.Fatalf("%d entries, want the bound %d", n, bulkCacheEntries)
	}
	if _, ok := c.get("q0", a); !ok {
		t.Fatal("the first answers at the position are kept")
	}
	c.put("q0", b, []byte("y"))
	if n := len(c.entries); n != 1 {
		t.Fatalf("%d entries after a newer position, want 1", n)
	}
	if _, ok := c.get("q0", a); ok {
		t.Fatal("an answer of an older position was served")
	}
	if body, ok := c.get("q0", b); !ok || string(body) != "y" {
		t.Fatalf("newer answer: %q %v", body, ok)
	}
	c.put("big", b, make([]byte, bulkCacheMaxBytes+1))
	if _, ok := c.get("big", b); ok {
		t.Fatal("an answer over the size bound was cached")
	}
}
