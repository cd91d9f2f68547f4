package report

import (
	"bytes"
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/lowrank-dev/lowrank/checkpoint"
)

// metricLabel is the y-axis label of a metric.
func metricLabel(metric string) string {
	if metric == "accuracy" {
		return "test accuracy (%)"
	}
	return "test " + metric
}

// curvesPlot draws each run's test metric per epoch.
func curvesPlot(g Group, rs []Record, path string) error {
	p := plot.New()
	p.Title.Text = g.Title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = metricLabel(rs[0].Metric)
	p.Add(plotter.NewGrid())
	for i, r := range rs {
		var pts plotter.XYs
		for _, e := range r.History {
			if !math.IsNaN(e.TestMetric) {
				pts = append(pts, plotter.XY{X: float64(e.Epoch), Y: r.Value(e.TestMetric)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		line.Color, points.Color, points.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		line.Dashes = plotutil.Dashes(i)
		p.Add(line, points)
		p.Legend.Add(r.Name, line, points)
	}
	p.Legend.Top = !r0IsAccuracy(rs) // accuracy rises: the lower right stays clear
	return savePNG([]*plot.Plot{p}, 7*vg.Inch, 4.5*vg.Inch, path)
}

func r0IsAccuracy(rs []Record) bool { return rs[0].Metric == "accuracy" }

// costPlot draws the final test metric against parameters (left) and FLOPs per example (right).
func costPlot(g Group, rs []Record, path string) error {
	var plots []*plot.Plot
	for _, axis := range []struct {
		label string
		x     func(Record) float64
	}{
		{"parameters (millions)", func(r Record) float64 { return float64(r.Params) / 1e6 }},
		{"FLOPs per example (millions)", func(r Record) float64 { return float64(r.FLOPs) / 1e6 }},
	} {
		p := plot.New()
		p.Title.Text = g.Title
		p.X.Label.Text = axis.label
		p.Y.Label.Text = metricLabel(rs[0].Metric)
		p.Add(plotter.NewGrid())
		for i, r := range rs {
			pts := plotter.XYs{{X: axis.x(r), Y: r.Value(r.Final())}}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.Color, sc.Shape, sc.Radius = plotutil.Color(i), plotutil.Shape(i), vg.Points(4)
			p.Add(sc)
			p.Legend.Add(r.Name, sc)
		}
		p.Legend.Top = !r0IsAccuracy(rs) // low-rank runs sit low and left
		pad(p)
		plots = append(plots, p)
	}
	return savePNG(plots, 12*vg.Inch, 4.5*vg.Inch, path)
}

// summaryPlot draws, for every low-rank run with a dense run in its group, the difference of
// its final test metric from the dense run's against its share of the dense parameters.
func summaryPlot(s *Suite, byGroup map[string][]Record, path string) error {
	p := plot.New()
	p.Title.Text = "Low-rank runs against their dense runs"
	p.X.Label.Text = "parameters / dense parameters"
	p.Y.Label.Text = "test metric − dense run's (accuracy points; perplexity)"
	p.Add(plotter.NewGrid())
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 0}})
	if err != nil {
		return err
	}
	zero.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(zero)
	n, maxX := 0, 1.0
	for gi, g := range s.Groups {
		rs := byGroup[g.Name]
		base := baseline(rs)
		if base == nil {
			continue
		}
		var pts plotter.XYs
		var labels []string
		for _, r := range rs {
			if r.Method == "original" {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(r.Params) / float64(base.Params), Y: r.Value(r.Final()) - base.Value(base.Final())})
			maxX = math.Max(maxX, pts[len(pts)-1].X)
			labels = append(labels, r.Name)
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.Color, sc.Shape, sc.Radius = plotutil.Color(gi), plotutil.Shape(gi), vg.Points(4)
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
		if err != nil {
			return err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Font.Size = vg.Points(7)
			lb.TextStyle[i].XAlign = draw.XLeft
		}
		lb.Offset = vg.Point{X: vg.Points(5)}
		p.Add(sc, lb)
		p.Legend.Add(g.Name, sc)
		n++
	}
	if n == 0 {
		return nil
	}
	pad(p)
	p.X.Min, p.X.Max = 0, maxX+0.1 // low-rank runs sit mostly left of 1: the legend goes lower right
	return savePNG([]*plot.Plot{p}, 8*vg.Inch, 5*vg.Inch, path)
}

// pad widens a plot's ranges by 10% so that markers at the edges stay visible.
func pad(p *plot.Plot) {
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		d := (ax.Max - ax.Min) * 0.1
		if d == 0 {
			d = math.Max(math.Abs(ax.Max)*0.1, 1e-3)
		}
		ax.Min, ax.Max = ax.Min-d, ax.Max+d
	}
}

// savePNG draws plots side by side into one PNG, written atomically.
func savePNG(plots []*plot.Plot, w, h vg.Length, path string) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return checkpoint.WriteFileAtomic(path, buf.Bytes())
}
