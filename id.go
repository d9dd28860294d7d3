package presence

import "regexp"

// Agents, statuses, queues and work items have ids chosen by the client (an
// operator id, an e-mail, a CRM case number): 1–128 letters, digits and
// ._@+- so that an id fits a URL path segment and a topic segment
// (agents.{id}.presence) without escaping. Tokens, sessions and channels
// have server-made ids and no such rule.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,128}$`)

// ValidID reports whether s is a valid agent, queue, status or work id:
// 1–128 letters, digits and ._@+-
func ValidID(s string) bool { return idPattern.MatchString(s) }

// checkID refuses a malformed id with the reason invalid_id; field names it
// in the message ("Agent id", "agent_id").
func checkID(field, id string) error {
	if !ValidID(id) {
		return ReasonErrorf(EINVALID, "invalid_id", "%s %q must be 1 to 128 letters, digits or ._@+-", field, truncate(id, 140))
	}
	return nil
}
