// A small SVG line-plot writer (no dependencies): one or more series of (x, y) points joined by lines,
// optional symmetric error bars (y +- err), axes with ticks, a title and a legend. Used by the
// robustness benchmark (accuracy vs severity / eps), `rpctrain report` (training curves, several panels in one
// picture) and `rpctrain plot` (a plot described in JSON, e.g. by a benchmark script).
#pragma once
#include <nlohmann/json.hpp>

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

// Several plots in one SVG document: a grid of `columns` panels (row by row, each cell as large as the largest
// panel), `title` above them ("" = none). Each panel is a nested <svg class="panel">. Throws
// std::invalid_argument for no panels, columns < 1, or a bad series (as render_svg).
std::string render_svg_panels(const std::vector<LinePlot>& panels, int columns, const std::string& title = "");

// A LinePlot from its JSON form: {"title", "x_label", "y_label", "y_min", "y_max", "width", "height",
// "series": [{"label", "x": [...], "y": [...], "err": [...]}]} (only "series" and each series' x / y are
// required). Throws std::invalid_argument starting with `where` (e.g. "plots.json: plot 2") for an unknown
// key, a missing list or a value of the wrong type.
LinePlot line_plot_from_json(const nlohmann::json& spec, const std::string& where);

// Tick positions: "nice" values (1, 2, 5 x 10^k steps) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace rpct
