package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	presence "github.com/presenced/presenced"
)

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var scopes []string
	var agent, name, expiresAt string
	fs, ef := newFlagSet("token create|list|revoke [flags] [id]",
		"Manages API tokens from the command line, for the first setup or when no admin token is at hand:\n"+
			"  create --scope S [--scope S] [--agent ID] [--name N] [--expires-at T]\n"+
			"                                                         print a new token (shown once)\n"+
			"  list                                                   list tokens (never their secrets)\n"+
			"  revoke ID                                              revoke a token at once, on every node\n"+
			"Scopes: "+strings.Join(presence.Scopes, ", ")+".", &cfg, stderr)
	fs.Var(&listFlag{p: &scopes}, "scope", "a scope of the new token (repeatable or comma-separated)")
	ef.fs.StringVar(&agent, "agent", "", "bind the new token to this agent: it may read and change that agent only")
	ef.fs.StringVar(&name, "name", "", "a name that says what the new token is for")
	ef.fs.StringVar(&expiresAt, "expires-at", "", "when the new token stops working, RFC 3339 (2030-01-31T18:00:00Z); default never")
	var action string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	var rest []string // the id may come before or after the flags
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		rest, args = args[:1], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest = append(rest, fs.Args()...)
	switch {
	case action == "create" && len(rest) == 0, action == "list" && len(rest) == 0, action == "revoke" && len(rest) == 1:
	default:
		fs.Usage()
		return usageError{"token needs one of: create --scope S, list, revoke ID"}
	}
	d, closeAll, err := openCommandDB(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := d.Migrate(ctx); err != nil { // the first setup may come before the first serve
		return err
	}

	switch action {
	case "create":
		in := presence.TokenInput{Scopes: scopes}
		if agent != "" {
			in.AgentID = &agent
		}
		if name != "" {
			in.Name = &name
		}
		if expiresAt != "" {
			in.ExpiresAt = &expiresAt
		}
		t, secret, err := d.CreateToken(ctx, in)
		if err != nil {
			return userError(err)
		}
		fmt.Fprintf(stderr, "token %s (%s) made; it is shown this once:\n", t.ID, strings.Join(t.Scopes, " "))
		fmt.Fprintln(stdout, secret)
		return nil
	case "revoke":
		if err := d.RevokeToken(ctx, rest[0]); err != nil {
			return userError(err)
		}
		fmt.Fprintf(stdout, "revoked %s\n", rest[0])
		return nil
	default:
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tAGENT\tCREATED\tREVOKED\tEXPIRES")
		cursor := ""
		for {
			items, next, err := d.FindTokens(ctx, presence.TokenFilter{Cursor: cursor, Limit: presence.MaxPageSize})
			if err != nil {
				return err
			}
			for _, t := range items {
				agent, revoked, expires := "-", "-", "-"
				if t.AgentID != nil {
					agent = *t.AgentID
				}
				if t.RevokedAt != nil {
					revoked = t.RevokedAt.UTC().Format("2006-01-02 15:04:05Z")
				}
				if t.ExpiresAt != nil {
					expires = t.ExpiresAt.UTC().Format("2006-01-02 15:04:05Z")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), agent,
					t.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), revoked, expires)
			}
			if cursor = next; cursor == "" {
				return tw.Flush()
			}
		}
	}
}

// userError turns a refusal of the user's input into a usage error (exit
// 2, a sentence); anything else stays as it is.
func userError(err error) error {
	switch presence.ErrorCode(err) {
	case presence.EINVALID, presence.ENOTFOUND:
		return usageError{presence.ErrorMessage(err)}
	}
	return err
}
