// Command lowrank trains, evaluates, converts and benchmarks low-rank neural networks.
package main

import (
	"os"

	"github.com/lowrank-dev/lowrank/cli"
)

func main() { os.Exit(cli.Execute()) }
