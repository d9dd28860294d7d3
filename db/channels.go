package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	presence "github.com/presenced/presenced"
	"github.com/presenced/presenced/db/internal/dbsqlc"
)

var _ presence.ChannelService = (*DB)(nil)

func channelFromRow(r dbsqlc.Channel) *presence.Channel {
	return &presence.Channel{ID: r.ID, Topics: r.Topics, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, OwnerTokenID: r.OwnerTokenID}
}

// validTopics checks a channel topic list (presence.ParseTopics, at most
// presence.MaxTopics) and folds duplicates, keeping the first of each.
func validTopics(topics []string) ([]string, error) {
	set, err := presence.ParseTopics(topics, presence.MaxTopics)
	if err != nil {
		return nil, err
	} else if len(set) == len(topics) {
		return topics, nil
	}
	seen := make(map[string]bool, len(topics))
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// CreateChannel implements presence.ChannelService.
func (db *DB) CreateChannel(ctx context.Context, topics []string) (*presence.Channel, error) {
	topics, err := validTopics(topics)
	if err != nil {
		return nil, err
	}
	var owner *string
	if t := presence.TokenFromContext(ctx); t != nil {
		owner = &t.ID
	}
	row, err := db.q.ChannelCreate(ctx, db.pool, dbsqlc.ChannelCreateParams{Topics: topics, OwnerTokenID: owner})
	if err != nil {
		return nil, interpretError(err)
	}
	return channelFromRow(row), nil
}

// FindChannelByID implements presence.ChannelService.
func (db *DB) FindChannelByID(ctx context.Context, id string) (*presence.Channel, error) {
	row, err := db.q.ChannelGetByID(ctx, db.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, channelNotFound(id)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return channelFromRow(row), nil
}

// SetChannelTopics implements presence.ChannelService.
func (db *DB) SetChannelTopics(ctx context.Context, id string, topics []string) (*presence.Channel, error) {
	topics, err := validTopics(topics)
	if err != nil {
		return nil, err
	}
	row, err := db.q.ChannelSetTopics(ctx, db.pool, dbsqlc.ChannelSetTopicsParams{ID: id, Topics: topics})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, channelNotFound(id)
	} else if err != nil {
		return nil, interpretError(err)
	}
	return channelFromRow(row), nil
}

func channelNotFound(id string) error {
	return presence.ChannelNotFound(id)
}
