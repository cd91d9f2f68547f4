// Package models builds architectures from lowrank layers: each model is full-rank with
// method "original" and factorized with method "low_rank".
package models
