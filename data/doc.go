// Package data loads datasets in their distributed formats and serves shuffled batches.
//
// Images are held as one byte buffer per split, not one tensor per example; a batch is
// normalized into a fresh float tensor when it is served.
package data
