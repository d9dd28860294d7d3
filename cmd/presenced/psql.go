package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

func runPsql(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs, _ := newFlagSet("psql [flags] [-- psql arguments]",
		"Opens psql on the database presenced uses (the private PostgreSQL under --data-dir,\n"+
			"started for the session if it is not running, or --database-url).", &cfg, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	database, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer database.Close()

	psql := "psql"
	if database.Cluster != nil {
		if p := filepath.Join(database.Cluster.BinDir(), "psql"); fileExists(p) {
			psql = p
		}
	}
	cmd := exec.Command(psql, append([]string{database.URL}, fs.Args()...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	return cmd.Run()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
