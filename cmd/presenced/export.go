package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// runExport writes a month of spells to a CSV file: the file the spell
// retention writes before it drops a month, on demand, for an analyst or
// an archive kept elsewhere.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, _ := newFlagSet("export YYYY-MM [flags]",
		"Writes every spell of a UTC month (soft-deleted ones included, in id order) as CSV with a header,\n"+
			"the columns of report.spells' stored ones: the file the spell retention archives. The file is\n"+
			"written whole or not at all (to FILE.tmp, then renamed).", &cfg, stderr)
	out := fs.String("out", "", "the file to write (default spells-YYYY-MM.csv)")
	var month string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		month, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if month == "" && fs.NArg() == 1 {
		month = fs.Arg(0)
	} else if fs.NArg() > 0 || month == "" {
		fs.Usage()
		return usageError{"export needs one month, YYYY-MM"}
	}
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return usageError{fmt.Sprintf("export %q: want a month as YYYY-MM", month)}
	}
	if *out == "" {
		*out = "spells-" + start.Format("2006-01") + ".csv"
	}
	d, closeAll, err := openCommandDB(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := d.ExportSpellMonth(ctx, start, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}
