// Package cli holds the lowrank command's subcommands, one small struct each.
package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// Exit codes of the lowrank command.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// usageError marks errors in how the command was called.
type usageError struct{ error }

// globalFlags are shared by every subcommand.
type globalFlags struct {
	threads   int
	logFormat string
	verbose   bool
}

// Execute runs the lowrank command with os.Args and returns its exit code.
func Execute() int {
	root := newRoot()
	if err := root.Execute(); err != nil {
		var in interrupted
		if errors.As(err, &in) { // the command already said where its checkpoint is
			return in.exitCode()
		}
		fmt.Fprintln(os.Stderr, "lowrank:", err)
		var u usageError
		if errors.As(err, &u) {
			return ExitUsage
		}
		return ExitError
	}
	return ExitOK
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "lowrank",
		Short:         "Train low-rank (factorized) neural networks on libtorch",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.apply()
		},
	}
	// --version: computed when asked (it reads the libtorch build's facts).
	cobra.AddTemplateFunc("lowrankVersion", versionString)
	root.Version = "-"
	root.SetVersionTemplate("{{lowrankVersion}}")
	root.PersistentFlags().IntVar(&g.threads, "threads", 0, "libtorch intra-op threads (0: one per CPU core)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "debug logging")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newDoctor(g).command())
	for _, c := range extraCommands(g) {
		root.AddCommand(c)
	}
	return root
}

func (g *globalFlags) apply() error {
	switch g.logFormat {
	case "text":
		// NO_COLOR (no-color.org): no colour codes, on a terminal too.
		logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: os.Getenv("NO_COLOR") != ""})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	default:
		return usageError{fmt.Errorf("--log-format %q: want text or json", g.logFormat)}
	}
	if g.verbose {
		logrus.SetLevel(logrus.DebugLevel)
	}
	if g.threads < 0 {
		return usageError{fmt.Errorf("--threads %d: want 0 (one per core) or a positive count", g.threads)}
	}
	// The thread count is an OpenMP setting of one OS thread: each command applies it on the
	// locked thread that runs its torch calls (config commands through train.threads).
	return nil
}
