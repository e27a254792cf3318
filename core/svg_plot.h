// A small SVG line-plot writer (no dependencies): one or more series of (x, y) points joined by lines,
// optional symmetric error bars (y +- err), axes with ticks, a title and a legend. Used by the
// robustness benchmark (accuracy vs severity / eps) and meant for other benchmark plots.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace rpct {

struct PlotSeries {
  std::string label;      // legend text
  std::vector<double> x;  // same length as y
  std::vector<double> y;
  std::vector<double> err;  // empty: no error bars; else one half-width per point (y - err .. y + err)
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  std::optional<double> y_min, y_max;  // fixed y range (e.g. 0..1 for accuracies); default: the data's
  int width = 640, height = 400;       // pixels
};

// The SVG document. Throws std::invalid_argument naming the series when x, y (and err, if given) differ
// in length, a value is not finite, or there is no point at all.
std::string render_svg(const LinePlot& plot);

// Tick positions: "nice" values (1, 2, 5 x 10^k steps) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace rpct
