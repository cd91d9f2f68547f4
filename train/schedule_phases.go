package train

import (
	"encoding/json"
	"math"
	"os"
	"sort"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// rankTracker follows the stable rank of every factorizable layer of the full-rank model during
// an automatic warm-up (Cuttlefish).
type rankTracker struct {
	Names   []string             `json:"names"`
	Scale   map[string]float64   `json:"scale"`   // full rank / stable rank at initialization
	History []map[string]float64 `json:"history"` // per epoch
	dims    map[string][2]int64
	det     lowrank.SwitchDetector
}

// measure returns the stable ranks of the probe's factorizable layers in the dense model.
func measure(probe models.Model, dense *nn.VarStore) (map[string]float64, map[string][2]int64, error) {
	mats, dims, err := models.FactorizableMatrices(probe, dense.NamedVariables())
	if err != nil {
		return nil, nil, err
	}
	out := map[string]float64{}
	for name, m := range mats {
		sr, err := lowrank.StableRank(m)
		m.MustDrop()
		if err != nil {
			return nil, nil, err
		}
		out[name] = sr
	}
	return out, dims, nil
}

func newRankTracker(probe models.Model, dense *nn.VarStore, cfg config.Config) (*rankTracker, error) {
	init, dims, err := measure(probe, dense)
	if err != nil {
		return nil, err
	}
	t := &rankTracker{Scale: map[string]float64{}, dims: dims,
		det: lowrank.SwitchDetector{Window: cfg.LowRank.AutoWindow, Threshold: cfg.LowRank.AutoThreshold, Scaler: cfg.LowRank.AutoScaler}}
	for name, sr := range init {
		t.Names = append(t.Names, name)
		full := float64(min(dims[name][0], dims[name][1]))
		t.Scale[name] = full / math.Max(math.Floor(sr), 1)
	}
	sort.Strings(t.Names)
	return t, nil
}

// observe records an epoch's stable ranks and reports whether every layer has settled.
func (t *rankTracker) observe(epoch int, ranks map[string]float64) bool {
	t.History = append(t.History, ranks)
	vals := make([]float64, len(t.Names))
	for i, n := range t.Names {
		vals[i] = ranks[n]
	}
	return t.det.Observe(epoch, vals)
}

// replay feeds a resumed tracker its recorded history.
func (t *rankTracker) replay() {
	hist := t.History
	t.History = nil
	for e, r := range hist {
		t.observe(e+1, r)
	}
}

// ranks chooses each layer's rank from its latest stable rank; layers whose rank would not save
// anything (r·(m+n) ≥ m·n) stay dense (rank 0).
func (t *rankTracker) ranks() map[string]int64 {
	out := map[string]int64{}
	last := t.History[len(t.History)-1]
	for _, n := range t.Names {
		m, k := t.dims[n][0], t.dims[n][1]
		r := lowrank.ScaledRank(last[n], t.Scale[n], min(m, k))
		if !lowrank.BreakEven(r, m, k) {
			r = 0
		}
		out[n] = r
	}
	return out
}

// appendJSONLine appends one JSON record to a file.
func appendJSONLine(path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(raw, '\n'))
	return err
}

// logRanks logs the ranks chosen at a switch.
func logRanks(log logrus.FieldLogger, reports []models.LayerReport, dense []string) {
	for _, r := range reports {
		log.WithFields(logrus.Fields{"layer": r.Name, "rank": r.Rank, "energy_kept": round(r.Energy)}).Info("factorized")
	}
	for _, n := range dense {
		log.WithField("layer", n).Info("kept dense (its rank would not save anything)")
	}
}
