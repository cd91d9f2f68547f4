// Package report runs a suite of experiments (groups of configs compared with each other) and
// publishes their results: a Markdown table per group and PNG plots (test metric per epoch, and
// final test metric against parameters and FLOPs).
package report

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/configs"
	"github.com/lowrank-dev/lowrank/experiment"
)

// Suite is a list of groups of runs; the runs of a group are compared in one table and plot.
type Suite struct {
	Name   string   `yaml:"-"`
	Title  string   `yaml:"title"`
	Seeds  []uint64 `yaml:"seeds"` // train.seed of every run, each seed a run (groups and runs may say otherwise)
	Groups []Group  `yaml:"groups"`
}

// Group is a set of runs on the same task.
type Group struct {
	Name  string   `yaml:"name"`  // folder and file name: letters, digits, '-', '_'
	Title string   `yaml:"title"` // the table's heading
	Seeds []uint64 `yaml:"seeds"` // the group's runs' seeds (default: the suite's)
	Runs  []Spec   `yaml:"runs"`
}

// Spec is one run: a config (a file or a built-in name) with --set overrides.
type Spec struct {
	Name   string   `yaml:"name"`
	Config string   `yaml:"config"`
	Set    []string `yaml:"set"`
	// Processes > 1 trains the run data-parallel in that many processes of lowrank train
	// (train.batch_size is then per process).
	Processes int `yaml:"processes"`
	// Seeds repeats the run once per train.seed (default: the group's); the table shows the
	// mean ± standard deviation over them and the plots error bars. None: one run with the
	// config's seed.
	Seeds []uint64 `yaml:"seeds"`
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Slug turns a run's display name into its folder name: "low-rank + FD" → "low-rank-fd".
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// LoadSuite reads a suite: a YAML file, or the name of a built-in suite (configs/suites).
func LoadSuite(name string) (*Suite, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		var ok bool
		if raw, ok = configs.Suite(name); !ok {
			return nil, fmt.Errorf("suite %q is neither a file (%v) nor a built-in suite (%s)", name, err, strings.Join(configs.SuiteNames(), ", "))
		}
	}
	var s Suite
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("suite %s: %w", name, err)
	}
	s.Name = name
	for gi := range s.Groups {
		g := &s.Groups[gi]
		if g.Seeds == nil {
			g.Seeds = s.Seeds
		}
		for ri := range g.Runs {
			if g.Runs[ri].Seeds == nil {
				g.Runs[ri].Seeds = g.Seeds
			}
		}
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// validate checks names and loads every config, so that a typo fails before hours of training.
func (s *Suite) validate() error {
	var problems []string
	if len(s.Groups) == 0 {
		problems = append(problems, "no groups")
	}
	groups := map[string]bool{}
	for gi, g := range s.Groups {
		where := fmt.Sprintf("groups[%d]", gi)
		if !safeName.MatchString(g.Name) {
			problems = append(problems, fmt.Sprintf("%s.name %q: use letters, digits, '-' and '_'", where, g.Name))
		}
		if groups[g.Name] {
			problems = append(problems, fmt.Sprintf("%s.name %q: used twice", where, g.Name))
		}
		groups[g.Name] = true
		if len(g.Runs) == 0 {
			problems = append(problems, where+": no runs")
		}
		runs := map[string]bool{}
		for ri, r := range g.Runs {
			rw := fmt.Sprintf("%s.runs[%d] (%s)", where, ri, r.Name)
			if Slug(r.Name) == "" || runs[Slug(r.Name)] {
				problems = append(problems, rw+": needs a name distinct from the group's other runs")
			}
			runs[Slug(r.Name)] = true
			seen := map[uint64]bool{}
			for _, sd := range r.Seeds {
				if seen[sd] {
					problems = append(problems, fmt.Sprintf("%s: seed %d listed twice", rw, sd))
				}
				seen[sd] = true
			}
			if _, err := r.Load("", nil); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", rw, err))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("suite %s:\n  %s", s.Name, strings.Join(problems, "\n  "))
	}
	return nil
}

// Load resolves the run's configuration with its overrides, then extra (applied last), writing
// into outDir when it is not empty.
func (r Spec) Load(outDir string, extra []string) (config.Config, error) {
	src, err := config.Find(r.Config)
	if err != nil {
		return config.Config{}, err
	}
	sets := append(append([]string(nil), r.Set...), extra...)
	if outDir != "" {
		sets = append(sets, "train.output_dir="+outDir)
	}
	return config.Load(src, os.Environ(), sets, experiment.Check)
}
