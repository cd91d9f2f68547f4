package cli

import "github.com/spf13/cobra"

// extraCommands lists the subcommands beyond doctor.
func extraCommands(g *globalFlags) []*cobra.Command {
	return []*cobra.Command{newTrain().command(), newSummary().command(), configsCmd{}.command(),
		newConvert(false).command(), newConvert(true).command(), (&evalCmd{}).command(), (&reportCmd{}).command(), (&benchCmd{}).command()}
}
