package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/configs"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/models"
)

// configsCmd lists or prints the built-in configurations.
type configsCmd struct{}

func (configsCmd) command() *cobra.Command {
	return &cobra.Command{
		Use:   "configs [NAME]",
		Short: "List the built-in configs, or print one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				raw, ok := configs.Lookup(args[0])
				if !ok {
					return fmt.Errorf("no built-in config %q; built-in configs: %s", args[0], strings.Join(configs.Names(), ", "))
				}
				_, err := w.Write(raw)
				return err
			}
			for _, n := range configs.Names() {
				src, err := config.Find(n)
				if err != nil {
					return err
				}
				e, err := experiment.Load(src, nil, nil)
				if err != nil {
					return err
				}
				c := e.Config
				fmt.Fprintf(w, "%-34s %-11s %-9s %-13s %4d epochs, %s lr %g\n", n, c.Model.Name, c.Model.Method,
					c.Data.Dataset, c.Train.Epochs, c.Optimizer.Name, c.Optimizer.LR)
			}
			// The registries: what model.name and data.dataset take.
			fmt.Fprintln(w, "\nmodels (model.name) and the datasets each takes:")
			for _, n := range models.Names() {
				ms, _ := models.Lookup(n)
				fmt.Fprintf(w, "  %-11s %s\n", n, strings.Join(experiment.Datasets(ms), ", "))
			}
			fmt.Fprintln(w, "datasets (data.dataset), their metric and default folder (data.dir):")
			for _, ds := range data.Specs() {
				fmt.Fprintf(w, "  %-13s %-10s %s\n", ds.Name, ds.Metric, ds.DefaultDir())
			}
			return nil
		},
	}
}
