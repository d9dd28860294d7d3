package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// flagSections groups the flags of every command for their help, in this
// order; a flag not named here is listed under "Other".
var flagSections = []struct {
	title string
	flags []string
}{
	{"Network", []string{"addr", "sse-deliverers"}},
	{"Database", []string{"database-url", "listen-database-url", "statement-mode", "data-dir", "event-retention", "presence-batch"}},
	{"Logging", []string{"log-format", "log-level"}},
	{"Security", []string{"admin-token", "rate-limit", "cors-origin", "public-metrics", "max-streams-per-token", "max-stream-topics"}},
	{"Tokens", []string{"scope", "agent", "name"}},
}

// envSuffix is how envFlags names a flag's environment variable in its help.
var envSuffix = regexp.MustCompile(`\s*\(\$([A-Z0-9_]+)\)$`)

// printFlags writes the flags of fs by section, each as
//
//	--name TYPE   $ENV, default D
//	    what it does, wrapped
//
// so that a long list stays readable in a terminal.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var all []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { all = append(all, f) })
	placed := make(map[string]bool)
	section := func(title string, flags []*flag.Flag) {
		if len(flags) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, f := range flags {
			printFlag(w, f)
			placed[f.Name] = true
		}
	}
	for _, s := range flagSections {
		var flags []*flag.Flag
		for _, name := range s.flags {
			if f := fs.Lookup(name); f != nil {
				flags = append(flags, f)
			}
		}
		section(s.title, flags)
	}
	var rest []*flag.Flag
	for _, f := range all {
		if !placed[f.Name] {
			rest = append(rest, f)
		}
	}
	section("Other", rest)
}

func printFlag(w io.Writer, f *flag.Flag) {
	kind, usage := flag.UnquoteUsage(f)
	var env string
	if m := envSuffix.FindStringSubmatch(usage); m != nil {
		env, usage = "$"+m[1], usage[:len(usage)-len(m[0])]
	}
	head := "  --" + f.Name
	if kind != "" && kind != "value" {
		head += " " + kind
	}
	var notes []string
	if env != "" {
		notes = append(notes, env)
	}
	if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
		notes = append(notes, "default "+d)
	}
	if len(notes) > 0 {
		head = fmt.Sprintf("%-32s %s", head, strings.Join(notes, ", "))
	}
	fmt.Fprintln(w, head)
	for _, line := range wrap(usage, 72) {
		fmt.Fprintln(w, "        "+line)
	}
}

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
