package data

import "math/rand/v2"

// Augment describes the training augmentation of an image batch. The zero value does none.
type Augment struct {
	CropPad int  // random crop of the original size after zero-padding each side by CropPad
	Flip    bool // random horizontal flip with probability 1/2
}

// CIFARAugment is the reference's CIFAR training augmentation.
var CIFARAugment = Augment{CropPad: 4, Flip: true}

// apply writes the augmented, normalized example src (C×H×W bytes) into dst, in C×H×W order or,
// with hwc, in H×W×C order.
func (a Augment) apply(dst []float32, src []byte, c, h, w int, mean, std []float32, hwc bool, rng *rand.Rand) {
	dy, dx, flip := 0, 0, false
	if a.CropPad > 0 {
		dy = rng.IntN(2*a.CropPad+1) - a.CropPad
		dx = rng.IntN(2*a.CropPad+1) - a.CropPad
	}
	if a.Flip {
		flip = rng.IntN(2) == 1
	}
	for ch := 0; ch < c; ch++ {
		m, s := mean[ch], std[ch]
		zero := (0 - m) / s // a padded pixel
		plane := src[ch*h*w : (ch+1)*h*w]
		// Element (ch, y, x) lands at out[(y*w+x)*step]: the channel's plane, or every c-th
		// value from the channel's offset.
		out, step := dst[ch*h*w:(ch+1)*h*w], 1
		if hwc {
			out, step = dst[ch:], c
		}
		for y := 0; y < h; y++ {
			sy := y + dy
			for x := 0; x < w; x++ {
				sx := x + dx
				if flip {
					sx = w - 1 - x + dx
				}
				if sy < 0 || sy >= h || sx < 0 || sx >= w {
					out[(y*w+x)*step] = zero
					continue
				}
				out[(y*w+x)*step] = (float32(plane[sy*w+sx])/255 - m) / s
			}
		}
	}
}
