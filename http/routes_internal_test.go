package http

import "testing"

// A route whose token may come from the node's memory (writeChecksToken)
// must be served by a write that checks the token's revocation itself:
// SetPresence does (migrations/00024). Give the flag to another route only
// with such a write, and add it here.
func TestOnlyWritesThatCheckTheirTokenSkipTheLookup(t *testing.T) {
	want := map[string]bool{"PUT /v1/agents/{id}/presence": true}
	for _, rt := range routes {
		if rt.rule.writeChecksToken != want[rt.pattern] {
			t.Errorf("%s: writeChecksToken %v", rt.pattern, rt.rule.writeChecksToken)
		}
	}
}
