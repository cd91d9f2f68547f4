package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/lowrank-dev/lowrank/configs"
)

// Source is a configuration's text and where it came from.
type Source struct {
	Name string // the file path, or the embedded config's name
	Text []byte
}

// Find resolves name: a path to a YAML file, or the name of a config embedded in the binary
// (`lowrank configs` lists them), with or without ".yaml".
func Find(name string) (Source, error) {
	if raw, err := os.ReadFile(name); err == nil {
		return Source{Name: name, Text: raw}, nil
	} else if strings.ContainsAny(name, `/\`) || filepath.Ext(name) == ".yml" {
		return Source{}, fmt.Errorf("config %s: %w", name, err)
	}
	if raw, ok := configs.Lookup(name); ok {
		return Source{Name: strings.TrimSuffix(name, ".yaml"), Text: raw}, nil
	}
	return Source{}, fmt.Errorf("config %q is neither a file nor a built-in config; built-in configs: %s",
		name, strings.Join(configs.Names(), ", "))
}

// Load reads a configuration from src over Default, applies LOWRANK_<SECTION>_<KEY>
// environment variables from env (os.Environ() form) and then --set "key=value" overrides, and
// validates the result, with checks' problems too (the experiment layer's: names and
// combinations its registries know). Unknown keys, wrong types and invalid values are reported
// together in one *Error naming each key.
func Load(src Source, env, sets []string, checks ...func(Config) []string) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	defaults, err := flatten(Default())
	if err != nil {
		return Config{}, err
	}
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
	chain, err := baseChain(src)
	if err != nil {
		return Config{}, err
	}
	for _, layer := range chain {
		if err := v.MergeConfig(bytes.NewReader(layer.Text)); err != nil {
			return Config{}, fmt.Errorf("config %s is not valid YAML: %w", layer.Name, err)
		}
	}
	var problems []string
	for _, e := range env {
		name, val, _ := strings.Cut(e, "=")
		rest, ok := strings.CutPrefix(name, "LOWRANK_")
		if !ok {
			continue
		}
		section, key, _ := strings.Cut(strings.ToLower(rest), "_")
		if _, isSection := sectionNames[section]; !isSection {
			continue // not a configuration variable
		}
		k := section + "." + key
		if _, known := defaults[k]; !known {
			problems = append(problems, fmt.Sprintf("environment %s: no configuration key %s", name, k))
			continue
		}
		v.Set(k, scalar(val))
	}
	for _, s := range sets {
		k, val, ok := strings.Cut(s, "=")
		if !ok {
			problems = append(problems, fmt.Sprintf("--set %q: want key=value, e.g. optimizer.lr=0.05", s))
			continue
		}
		if _, known := defaults[k]; !known {
			problems = append(problems, fmt.Sprintf("--set %s: no configuration key %s", s, k))
			continue
		}
		v.Set(k, scalar(val))
	}
	var c Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &c, ErrorUnused: true, TagName: "mapstructure"})
	if err != nil {
		return Config{}, err
	}
	bad := map[string]bool{} // keys that did not decode: their zero values are no news
	if err := dec.Decode(v.AllSettings()); err != nil {
		for _, p := range decodeProblems(err) {
			if key, _, ok := strings.Cut(strings.TrimPrefix(p, "'"), "'"); ok {
				bad[key] = true
			}
			problems = append(problems, p)
		}
	}
	var invalid []string
	if err := c.Validate(); err != nil {
		invalid = err.(*Error).Problems
	}
	if len(nonFinite(c)) == 0 {
		for _, check := range checks {
			invalid = append(invalid, check(c)...)
		}
	}
	for _, p := range invalid {
		if key, _, _ := strings.Cut(p, ":"); !bad[key] {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return Config{}, &Error{Source: "config " + src.Name, Problems: problems}
	}
	if c.Train.OutputDir == "" {
		c.Train.OutputDir = filepath.Join("runs", filepath.Base(strings.TrimSuffix(src.Name, filepath.Ext(src.Name))))
	}
	return c, nil
}

// maxBaseDepth bounds a chain of base configs.
const maxBaseDepth = 16

// baseChain resolves src's `base:` key: the config it names (a built-in name, or a path relative
// to src's folder) is read first and src's keys override it, recursively. It returns the chain,
// the first base first, each without its base key; a cycle or a missing base is an error naming
// the chain.
func baseChain(src Source) ([]Source, error) {
	var chain []Source
	seen := map[string]bool{}
	var names []string
	for cur := src; ; {
		id := cur.Name
		if abs, err := filepath.Abs(cur.Name); err == nil {
			if _, statErr := os.Stat(cur.Name); statErr == nil {
				id = abs
			}
		}
		names = append(names, cur.Name)
		if seen[id] {
			return nil, fmt.Errorf("config %s: base configs form a cycle: %s", src.Name, strings.Join(names, " → "))
		}
		seen[id] = true
		var doc map[string]any
		if err := yaml.Unmarshal(cur.Text, &doc); err != nil {
			return nil, fmt.Errorf("config %s is not valid YAML: %w", cur.Name, err)
		}
		base, hasBase := doc["base"]
		if hasBase {
			delete(doc, "base")
			text, err := yaml.Marshal(doc)
			if err != nil {
				return nil, err
			}
			cur.Text = text
		}
		chain = append([]Source{cur}, chain...)
		if !hasBase {
			return chain, nil
		}
		name, ok := base.(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("config %s: base: want the name of a built-in config or a YAML file, got %v", cur.Name, base)
		}
		if len(chain) > maxBaseDepth {
			return nil, fmt.Errorf("config %s: more than %d base configs: %s", src.Name, maxBaseDepth, strings.Join(names, " → "))
		}
		// A relative path is relative to the config that names it.
		if _, err := os.Stat(cur.Name); err == nil && !filepath.IsAbs(name) {
			if rel := filepath.Join(filepath.Dir(cur.Name), name); fileExists(rel) {
				name = rel
			}
		}
		next, err := Find(name)
		if err != nil {
			return nil, fmt.Errorf("config %s: base: %w", cur.Name, err)
		}
		cur = next
	}
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// YAML is c as a configuration file that Load reads back to c (train --print-config).
func YAML(c Config) ([]byte, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, err
	}
	return yaml.Marshal(tree)
}

// Keys lists every configuration key, "section.key", sorted.
func Keys() []string {
	flat, _ := flatten(Default())
	out := make([]string, 0, len(flat))
	for k := range flat {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sectionNames are the top-level keys.
var sectionNames = map[string]bool{"model": true, "lowrank": true, "data": true, "train": true, "optimizer": true, "scheduler": true, "dist": true}

// flatten turns a Config into dotted keys and values ("optimizer.lr": 0.1).
func flatten(c Config) (map[string]any, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var tree map[string]map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for s, keys := range tree {
		for k, val := range keys {
			out[s+"."+k] = val
		}
	}
	return out, nil
}

// scalar parses a command-line or environment value as a YAML scalar ("0.05" → 0.05, "true"
// → true, "sgd" → "sgd").
func scalar(s string) any {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil || v == nil {
		return s
	}
	if _, isMap := v.(map[string]any); isMap {
		return s
	}
	return v
}

// decodeProblems splits mapstructure's error into one line per problem.
func decodeProblems(err error) []string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasSuffix(line, "error(s) decoding:") || strings.HasSuffix(line, "following error(s):") {
			continue
		}
		line = strings.Replace(line, "has invalid keys:", "unknown key(s):", 1)
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}
