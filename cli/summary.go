package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

// summary prints a model's layers, full-rank and low-rank side by side.
type summary struct {
	cfg    configFlags
	asJSON bool
	runDir string
}

func newSummary() *summary { return &summary{} }

func (s *summary) command() *cobra.Command {
	c := &cobra.Command{
		Use:   "summary -c CONFIG",
		Short: "Per-layer parameters and FLOPs of a config's model, full-rank and low-rank side by side",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return s.run(cmd) },
	}
	s.cfg.register(c)
	c.Flags().BoolVar(&s.asJSON, "json", false, "print JSON (exact integer counts)")
	c.Flags().StringVar(&s.runDir, "run", "", "a run folder whose automatic schedule chose per-layer ranks: show that model")
	return c
}

// modelSummary is one model's table.
type modelSummary struct {
	Method string `json:"method"`
	Params int64  `json:"params"`
	FLOPs  int64  `json:"flops"`
	// OptimizerStateBytes is the configured optimizer's state for the model, measured from the
	// buffers it makes.
	OptimizerStateBytes int64              `json:"optimizer_state_bytes"`
	Layers              []models.LayerInfo `json:"layers"`
	model               models.Model
}

func (s *summary) run(cmd *cobra.Command) error {
	x, err := s.cfg.experiment(cmd)
	if err != nil {
		return err
	}
	c := x.Config
	var ranks map[string]int64
	if s.runDir != "" {
		if ranks, err = train.ChosenRanks(s.runDir); err != nil {
			return err
		}
	}
	defer backend.LockThread()()
	backend.SetThreads(c.Train.Threads)
	var out []modelSummary
	for _, method := range []string{"original", "low_rank"} {
		vs := nn.NewVarStore(gotch.CPU)
		var m models.Model
		var err error
		if method == "low_rank" && ranks != nil {
			m, err = x.BuildRanks(vs.Root(), ranks)
		} else {
			m, err = x.Build(vs.Root(), method)
		}
		if err != nil {
			return fmt.Errorf("%s model: %w", method, err)
		}
		cost := m.Cost()
		state, err := train.OptimizerStateBytes(c.Optimizer, vs)
		if err != nil {
			return err
		}
		out = append(out, modelSummary{Method: method, Params: cost.Params, FLOPs: cost.FLOPs, OptimizerStateBytes: state, Layers: m.Layers(), model: m})
		vs.Destroy()
	}
	w := cmd.OutOrStdout()
	if s.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"config": s.cfg.name, "model": c.Model.Name, "dataset": c.Data.Dataset,
			"full": out[0], "low_rank": out[1],
			"param_ratio": float64(out[1].Params) / float64(out[0].Params),
			"flop_ratio":  float64(out[1].FLOPs) / float64(out[0].FLOPs)})
	}
	full := map[string]models.LayerInfo{}
	for _, l := range out[0].Layers {
		full[l.Name] = l
	}
	fmt.Fprintf(w, "%s (%s on %s, ratio %g, %s scheme, compat %s)\n\n", s.cfg.name, c.Model.Name, c.Data.Dataset,
		c.LowRank.Ratio, c.LowRank.ConvScheme, c.Model.Compat)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\ttype\tshape\trank\tparams\tFLOPs\tfull params\tfull FLOPs\t")
	for _, l := range out[1].Layers {
		f := full[out[1].model.DenseName(l.Name)]
		rank := "-"
		if l.Rank > 0 {
			rank = fmt.Sprint(l.Rank)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t\n", l.Name, l.Type, l.Shape, rank, l.Params, l.FLOPs, f.Params, f.FLOPs)
	}
	fmt.Fprintf(tw, "total\t\t\t\t%d\t%d\t%d\t%d\t\n", out[1].Params, out[1].FLOPs, out[0].Params, out[0].FLOPs)
	tw.Flush()
	fmt.Fprintf(w, "\nlow-rank/full: %.3f of the parameters (%.2fM / %.2fM), %.3f of the FLOPs (%.2fM / %.2fM)\n",
		float64(out[1].Params)/float64(out[0].Params), float64(out[1].Params)/1e6, float64(out[0].Params)/1e6,
		float64(out[1].FLOPs)/float64(out[0].FLOPs), float64(out[1].FLOPs)/1e6, float64(out[0].FLOPs)/1e6)
	fmt.Fprintf(w, "optimizer state (%s): %.2f MB low-rank, %.2f MB full\n", c.Optimizer.Name,
		float64(out[1].OptimizerStateBytes)/1e6, float64(out[0].OptimizerStateBytes)/1e6)
	return nil
}
