package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/lowrank-dev/lowrank/report"
	"github.com/lowrank-dev/lowrank/train"
)

// reportCmd runs a suite of experiments and writes the results report.
type reportCmd struct {
	suite, out string
	sets       []string
	dataDirs   []string
	groups     []string
	rerun      bool
	renderOnly bool
	quiet      bool
}

func (c *reportCmd) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report [--suite cpu] [--out results]",
		Short: "Train a suite of configs (the runs not finished yet) and write the results report: Markdown tables and PNG plots",
		Long: `report trains every run of a suite (a YAML list of groups of configs; the built-in "cpu"
suite reproduces the reference's comparisons at CPU size) that has not finished yet, resuming
interrupted ones, then writes OUT/README.md with one table per group (test metric, parameters,
FLOPs, training time, samples/s) and PNG plots: test metric per epoch, test metric against
parameters and FLOPs, and every low-rank run against its dense run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&c.suite, "suite", "cpu", "suite file, or the name of a built-in suite")
	f.StringVar(&c.out, "out", "results", "results folder")
	f.StringArrayVar(&c.sets, "set", nil, "override a key in every run, e.g. --set train.threads=2 (repeatable)")
	f.StringArrayVar(&c.dataDirs, "data-dir", nil, "DATASET=PATH: where a dataset is, e.g. shakespeare=path/to/input.txt (repeatable)")
	f.StringSliceVar(&c.groups, "group", nil, "train only these groups (the report shows every finished run)")
	f.BoolVar(&c.rerun, "rerun", false, "train again runs that already finished")
	f.BoolVar(&c.renderOnly, "render-only", false, "train nothing; write the report from the finished runs")
	f.BoolVarP(&c.quiet, "quiet", "q", false, "no per-step progress")
	return cmd
}

func (c *reportCmd) run(cmd *cobra.Command) error {
	s, err := report.LoadSuite(c.suite)
	if err != nil {
		return err
	}
	dirs := map[string]string{}
	for _, d := range c.dataDirs {
		name, path, ok := strings.Cut(d, "=")
		if !ok || name == "" || path == "" {
			return usageError{fmt.Errorf("--data-dir %q: want DATASET=PATH", d)}
		}
		dirs[name] = path
	}
	sets := c.sets
	if fl := cmd.Flag("threads"); fl != nil && fl.Changed {
		sets = append(sets, "train.threads="+fl.Value.String())
	}
	report.Command = reportCommandLine(c)
	var recs []report.Record
	if c.renderOnly {
		recs, err = report.Collect(s, c.out)
	} else {
		ctx, stop, received := signalContext()
		defer stop()
		o := report.Options{Out: c.out, Sets: sets, DataDirs: dirs, Groups: c.groups, Rerun: c.rerun, Log: logrus.StandardLogger()}
		if !c.quiet {
			o.Progress = cmd.ErrOrStderr()
		}
		recs, err = report.Run(ctx, s, o)
		if errors.Is(err, train.ErrInterrupted) {
			fmt.Fprintf(cmd.OutOrStdout(), "interrupted; the same command resumes where it stopped\n")
			return interrupted{received()}
		}
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if err := report.Render(s, recs, c.out); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d finished runs; report written to %s\n", len(recs), filepath.Join(c.out, "README.md"))
	return nil
}

// reportCommandLine is the command that regenerates the report, as the report quotes it.
func reportCommandLine(c *reportCmd) string {
	parts := []string{"bin/lowrank report"}
	if c.suite != "cpu" {
		parts = append(parts, "--suite "+c.suite)
	}
	if c.out != "results" {
		parts = append(parts, "--out "+c.out)
	}
	for _, d := range c.dataDirs {
		parts = append(parts, "--data-dir "+d)
	}
	for _, s := range c.sets {
		parts = append(parts, "--set "+s)
	}
	return strings.Join(parts, " ")
}
