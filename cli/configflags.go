package cli

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/configs"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/models"
)

// configFlags are the flags that select and override a configuration.
type configFlags struct {
	name string
	sets []string
}

func (f *configFlags) register(c *cobra.Command) {
	c.Flags().StringVarP(&f.name, "config", "c", "", "config file, or the name of a built-in config (lowrank configs)")
	c.Flags().StringArrayVar(&f.sets, "set", nil, "override a key, e.g. --set optimizer.lr=0.05 (repeatable)")
	// Shell completion (lowrank completion bash|zsh|fish): built-in config names and YAML files
	// for -c; for --set, the keys, and the registered models and datasets after model.name= and
	// data.dataset=.
	_ = c.RegisterFlagCompletionFunc("config", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return configs.Names(), cobra.ShellCompDirectiveDefault
	})
	_ = c.RegisterFlagCompletionFunc("set", func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
		return setCompletions(typed), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	})
}

// setCompletions are the --set values that complete typed: "model.name=" + a model,
// "data.dataset=" + a dataset, else every key followed by "=".
func setCompletions(typed string) []string {
	var out []string
	for prefix, names := range map[string][]string{"model.name=": models.Names(), "data.dataset=": data.Names()} {
		if strings.HasPrefix(typed, prefix) {
			for _, n := range names {
				out = append(out, prefix+n)
			}
			return out
		}
	}
	for _, k := range config.Keys() {
		out = append(out, k+"=")
	}
	return out
}

// load finds, reads, overrides (environment, then --set, then the global --threads) and
// validates the configuration.
func (f *configFlags) load(cmd *cobra.Command) (config.Config, error) {
	e, err := f.experiment(cmd)
	if err != nil {
		return config.Config{}, err
	}
	return e.Config, nil
}

// experiment is load's configuration with the model and dataset it names.
func (f *configFlags) experiment(cmd *cobra.Command) (*experiment.Experiment, error) {
	if f.name == "" {
		return nil, usageError{errors.New("no config: pass -c CONFIG (a file, or a name from `lowrank configs`)")}
	}
	src, err := config.Find(f.name)
	if err != nil {
		return nil, err
	}
	e, err := experiment.Load(src, os.Environ(), f.sets)
	if err != nil {
		return nil, err
	}
	if fl := cmd.Flag("threads"); fl != nil && fl.Changed {
		e.Config.Train.Threads, _ = cmd.Flags().GetInt("threads")
	}
	return e, nil
}
