package report

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/internal/stats"
	"github.com/lowrank-dev/lowrank/train"
)

// metricLabel is the y-axis label of a metric.
func metricLabel(metric string) string {
	if metric == "accuracy" {
		return "test accuracy (%)"
	}
	return "test " + metric
}

// meanErr are points with ±1 standard deviation, for gonum's error bars.
type meanErr struct {
	plotter.XYs
	plotter.YErrors
}

// addSeries draws pts (with error bars when any is non-zero) as run i of a plot, in the run's
// colour, shape and dashes, and names it in the legend.
func addSeries(p *plot.Plot, i int, name string, pts plotter.XYs, errs plotter.YErrors, lines bool) error {
	var thumbs []plot.Thumbnailer
	if lines {
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color, line.Dashes = plotutil.Color(i), plotutil.Dashes(i)
		p.Add(line)
		thumbs = append(thumbs, line)
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.Color, sc.Shape, sc.Radius = plotutil.Color(i), plotutil.Shape(i), vg.Points(3)
	p.Add(sc)
	thumbs = append(thumbs, sc)
	for _, e := range errs {
		if e.Low > 0 {
			eb, err := plotter.NewYErrorBars(meanErr{pts, errs})
			if err != nil {
				return err
			}
			eb.Color = plotutil.Color(i)
			p.Add(eb)
			break
		}
	}
	p.Legend.Add(name, thumbs...)
	return nil
}

// perEpoch is the mean and standard deviation over the row's seeds of f at each epoch where it
// is defined (not NaN) for every seed.
func perEpoch(w row, f func(r Record, e train.EpochMetrics) float64) (plotter.XYs, plotter.YErrors) {
	var pts plotter.XYs
	var errs plotter.YErrors
	for ei, e := range w.first().History {
		var xs []float64
		for _, r := range w.Recs {
			if ei < len(r.History) && !math.IsNaN(f(r, r.History[ei])) {
				xs = append(xs, f(r, r.History[ei]))
			}
		}
		if len(xs) != len(w.Recs) {
			continue
		}
		m, sd := stats.MeanSD(xs)
		pts = append(pts, plotter.XY{X: float64(e.Epoch), Y: m})
		errs = append(errs, struct{ Low, High float64 }{sd, sd})
	}
	return pts, errs
}

// curvesPlot draws each run's test metric (left) and training loss (right) per epoch.
func curvesPlot(g Group, rs []Record, path string) error {
	metric := rs[0].Metric
	var plots []*plot.Plot
	for _, panel := range []struct {
		label string
		f     func(r Record, e train.EpochMetrics) float64
	}{
		{metricLabel(metric), func(r Record, e train.EpochMetrics) float64 { return r.Value(e.TestMetric) }},
		{"training loss", func(_ Record, e train.EpochMetrics) float64 { return e.TrainLoss }},
	} {
		p := plot.New()
		p.Title.Text = panel.label + " per epoch"
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = panel.label
		p.Add(plotter.NewGrid())
		for i, w := range rowsOf(rs) {
			pts, errs := perEpoch(w, panel.f)
			if len(pts) == 0 {
				continue
			}
			if err := addSeries(p, i, w.Name, pts, errs, true); err != nil {
				return err
			}
		}
		// Accuracy rises and loss falls: the legend goes where the curves are not.
		p.Legend.Top = panel.label == "training loss" || metric != "accuracy"
		plots = append(plots, p)
	}
	plots[0].Title.Text = shortTitle(g.Title)
	return savePNG(plots, 12*vg.Inch, 4.5*vg.Inch, path)
}

// shortTitle is a group's title as a plot heading fits it: up to its first parenthesis or comma,
// at most 60 characters (the table above the plot has the whole title).
func shortTitle(title string) string {
	if i := strings.IndexAny(title, "(,"); i > 0 {
		title = strings.TrimSpace(title[:i])
	}
	if r := []rune(title); len(r) > 60 {
		title = string(r[:59]) + "…"
	}
	return title
}

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
		p.X.Label.Text = axis.label
		p.Y.Label.Text = metricLabel(rs[0].Metric)
		p.Add(plotter.NewGrid())
		for i, w := range rowsOf(rs) {
			m, sd := w.final()
			if err := addSeries(p, i, w.Name, plotter.XYs{{X: axis.x(w.first()), Y: m}}, plotter.YErrors{{Low: sd, High: sd}}, false); err != nil {
				return err
			}
		}
		p.Legend.Top = rs[0].Metric != "accuracy" // low-rank runs sit low and left
		pad(p)
		plots = append(plots, p)
	}
	plots[0].Title.Text = shortTitle(g.Title)
	return savePNG(plots, 12*vg.Inch, 4.5*vg.Inch, path)
}

// summaryPlot draws, for every low-rank run with a dense run in its group, the difference of
// its final test metric (the mean over seeds) from the dense run's against its share of the
// dense parameters: one panel per metric (accuracy points, perplexity), so that no axis mixes
// them. Labels name the runs, the legend the groups.
func summaryPlot(s *Suite, byGroup map[string][]Record, path string) error {
	var plots []*plot.Plot
	for _, metric := range []string{"accuracy", "perplexity"} {
		p := plot.New()
		p.Title.Text = "Low-rank runs against their dense runs (" + metric + ")"
		p.X.Label.Text = "parameters / dense parameters"
		p.Y.Label.Text = map[string]string{"accuracy": "test accuracy − dense run's (points)", "perplexity": "test perplexity − dense run's"}[metric]
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
			if len(rs) == 0 || rs[0].Metric != metric {
				continue
			}
			rows := rowsOf(rs)
			base := baseline(rows)
			if base == nil {
				continue
			}
			bm, _ := base.final()
			var pts plotter.XYs
			var errs plotter.YErrors
			var labels []string
			for _, w := range rows {
				if w.Name == base.Name {
					continue
				}
				m, sd := w.final()
				pts = append(pts, plotter.XY{X: float64(w.first().Params) / float64(base.first().Params), Y: m - bm})
				errs = append(errs, struct{ Low, High float64 }{sd, sd})
				maxX = math.Max(maxX, pts[len(pts)-1].X)
				labels = append(labels, w.Name)
			}
			if len(pts) == 0 {
				continue
			}
			if err := addSeries(p, gi, g.Name, pts, errs, false); err != nil {
				return err
			}
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: pts, Labels: labels})
			if err != nil {
				return err
			}
			for i := range lb.TextStyle {
				lb.TextStyle[i].Font.Size = vg.Points(6)
				lb.TextStyle[i].XAlign = draw.XLeft
			}
			lb.Offset = vg.Point{X: vg.Points(5)}
			p.Add(lb)
			n++
		}
		if n == 0 {
			continue
		}
		pad(p)
		p.X.Min, p.X.Max = 0, maxX+0.35 // room for the labels right of the points
		p.Legend.Top = false
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil
	}
	return savePNG(plots, vg.Length(len(plots))*8*vg.Inch, 5.5*vg.Inch, path)
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
