package config

import (
	"fmt"

	"github.com/lowrank-dev/lowrank/data"
)

// CheckData compares the images of the opened dataset with what the model is built for
// (Specs: channels and side), before anything trains: a folder of MNIST-format files with
// 32×32 images, say, otherwise failed at the first step with a libtorch backtrace.
func (c Config) CheckData(s data.Splits) error {
	spec, ok := Specs[c.Data.Dataset]
	if !ok || spec.Size == 0 {
		return nil
	}
	for _, split := range []struct {
		name string
		src  data.Source
	}{{"training", s.Train}, {"test", s.Test}} {
		src := split.src
		if sub, ok := src.(data.Subset); ok { // data.test_limit, data.val_split
			src = sub.Source
		}
		im, ok := src.(*data.Images)
		if !ok {
			continue
		}
		if im.C != spec.Channels || im.H != spec.Size || im.W != spec.Size {
			return fmt.Errorf("data.dataset %s: the %s images in %s are %d×%d×%d (channels×height×width); %s models are built for %d×%d×%d: point data.dir at %s files, or choose the dataset these are",
				c.Data.Dataset, split.name, dirOr(c.Data.Dir, data.DefaultDir(c.Data.Dataset)), im.C, im.H, im.W, c.Model.Name,
				spec.Channels, spec.Size, spec.Size, c.Data.Dataset)
		}
	}
	return nil
}

func dirOr(dir, def string) string {
	if dir != "" {
		return dir
	}
	return def
}
