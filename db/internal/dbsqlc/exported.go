package dbsqlc

// Written by hand, not by sqlc (sqlc diff checks only the files it
// generates). sqlc can export every query's text or none
// (emit_exported_queries); this exports the one that package db runs
// itself.

// PresenceListSQL is the text of PresenceList. db.EachPresence scans its
// rows into domain records itself, one at a time: the generated method
// appends up to 10,000 rows to a slice that grows by copying, which cost
// more CPU than decoding them.
const PresenceListSQL = presenceList
