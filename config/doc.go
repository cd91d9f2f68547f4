// Package config is the schema of an experiment: one root Config of sections (model, lowrank,
// data, train, optimizer, scheduler), read from YAML with viper, overridden by --set key=value
// and LOWRANK_* environment variables, and validated before anything runs. Defaults live in
// Default; each section's Validate reports problems with their key paths.
package config
