package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, _ := newFlagSet("migrate up|down|status [flags]",
		"Applies every pending migration (up), rolls back the newest one (down), or lists them (status).\n"+
			"presenced serve applies pending migrations by itself; this is for operators.", &cfg, stderr)
	// The action may come before or after the flags.
	var action string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if action == "" && fs.NArg() == 1 {
		action = fs.Arg(0)
	} else if fs.NArg() > 0 || action == "" {
		fs.Usage()
		return usageError{"migrate needs exactly one of: up, down, status"}
	}
	if action != "up" && action != "down" && action != "status" {
		return usageError{fmt.Sprintf("migrate %q: want up, down or status", action)}
	}
	d, closeAll, err := openCommandDB(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	m, err := d.NewMigrator()
	if err != nil {
		return err
	}
	defer m.Close()

	switch action {
	case "up":
		results, err := m.Up(ctx)
		for _, r := range results {
			fmt.Fprintf(stdout, "applied %s (%s)\n", r.Source.Path, r.Duration)
		}
		if err == nil && len(results) == 0 {
			fmt.Fprintln(stdout, "no pending migrations")
		}
		return err
	case "down":
		r, err := m.Down(ctx)
		if r != nil {
			fmt.Fprintf(stdout, "rolled back %s\n", r.Source.Path)
		}
		return err
	default:
		statuses, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, s := range statuses {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
		}
		return tw.Flush()
	}
}
