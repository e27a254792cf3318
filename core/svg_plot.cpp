#include "core/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace rpct {

namespace {

// Plot area margins in pixels: room for tick labels (left, bottom), the title (top) and the legend (right).
constexpr double kMarginLeft = 64, kMarginRight = 170, kMarginTop = 36, kMarginBottom = 52;
// Half-width of an error bar's end cap and the radius of a point marker, pixels.
constexpr double kCapHalfWidth = 4, kMarkerRadius = 3;
// Height of the overall title above a grid of panels, pixels.
constexpr double kPanelTitleHeight = 32;
// Line colours, cycled (Tableau 10).
const char* const kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                               "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", std::abs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

void check_series(const PlotSeries& s) {
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("render_svg: series '" + s.label + "': " + why);
  };
  if (s.x.size() != s.y.size())
    throw bad(std::to_string(s.x.size()) + " x values but " + std::to_string(s.y.size()) + " y values");
  if (!s.err.empty() && s.err.size() != s.y.size())
    throw bad(std::to_string(s.err.size()) + " error bars for " + std::to_string(s.y.size()) + " points");
  for (size_t i = 0; i < s.x.size(); ++i)
    if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (!s.err.empty() && !std::isfinite(s.err[i])))
      throw bad("point " + std::to_string(i) + " is not finite");
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  // Integer multiples of the step (no accumulated rounding), a hair of slack at both ends.
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1) ticks.push_back(k * step);
  return ticks;
}

namespace {

// The plot's elements (background, title, axes, series, legend) in its own coordinates, 0..width x 0..height;
// the caller writes the enclosing <svg> element.
void write_plot_body(std::ostringstream& o, const LinePlot& plot) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  size_t points = 0;
  for (const auto& s : plot.series) {
    check_series(s);
    for (size_t i = 0; i < s.x.size(); ++i, ++points) {
      const double e = s.err.empty() ? 0.0 : std::abs(s.err[i]);
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i] - e);
      y_hi = std::max(y_hi, s.y[i] + e);
    }
  }
  if (points == 0) throw std::invalid_argument("render_svg: plot '" + plot.title + "' has no points");
  if (plot.y_min) y_lo = *plot.y_min;
  if (plot.y_max) y_hi = *plot.y_max;
  if (x_hi == x_lo) x_lo -= 0.5, x_hi += 0.5;  // one x value: centre it
  if (y_hi == y_lo) y_lo -= 0.5, y_hi += 0.5;

  const double W = plot.width, H = plot.height;
  const double left = kMarginLeft, right = W - kMarginRight, top = kMarginTop, bottom = H - kMarginBottom;
  const auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * (right - left); };
  const auto py = [&](double y) { return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top); };

  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << fmt(W / 2) << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" << xml_escape(plot.title)
    << "</text>\n";
  // Axes, grid and ticks.
  o << "<g stroke=\"#ddd\">\n";
  const auto xt = nice_ticks(x_lo, x_hi), yt = nice_ticks(y_lo, y_hi);
  for (double t : yt)
    o << "<line x1=\"" << fmt(left) << "\" y1=\"" << fmt(py(t)) << "\" x2=\"" << fmt(right) << "\" y2=\""
      << fmt(py(t)) << "\"/>\n";
  o << "</g>\n<g stroke=\"black\">\n";
  o << "<line x1=\"" << fmt(left) << "\" y1=\"" << fmt(bottom) << "\" x2=\"" << fmt(right) << "\" y2=\""
    << fmt(bottom) << "\"/>\n";
  o << "<line x1=\"" << fmt(left) << "\" y1=\"" << fmt(top) << "\" x2=\"" << fmt(left) << "\" y2=\"" << fmt(bottom)
    << "\"/>\n</g>\n";
  for (double t : xt)
    o << "<text x=\"" << fmt(px(t)) << "\" y=\"" << fmt(bottom + 16) << "\" text-anchor=\"middle\">"
      << tick_label(t) << "</text>\n";
  for (double t : yt)
    o << "<text x=\"" << fmt(left - 6) << "\" y=\"" << fmt(py(t) + 4) << "\" text-anchor=\"end\">" << tick_label(t)
      << "</text>\n";
  o << "<text x=\"" << fmt((left + right) / 2) << "\" y=\"" << fmt(H - 12) << "\" text-anchor=\"middle\">"
    << xml_escape(plot.x_label) << "</text>\n";
  o << "<text transform=\"translate(16," << fmt((top + bottom) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(plot.y_label) << "</text>\n";
  // Series: line, markers, error bars; legend entry.
  for (size_t k = 0; k < plot.series.size(); ++k) {
    const auto& s = plot.series[k];
    const char* color = kColors[k % (sizeof(kColors) / sizeof(kColors[0]))];
    o << "<g stroke=\"" << color << "\" fill=\"" << color << "\">\n";
    if (s.x.size() > 1) {
      o << "<polyline fill=\"none\" stroke-width=\"2\" points=\"";
      for (size_t i = 0; i < s.x.size(); ++i) o << (i ? " " : "") << fmt(px(s.x[i])) << "," << fmt(py(s.y[i]));
      o << "\"/>\n";
    }
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double cx = px(s.x[i]);
      o << "<circle cx=\"" << fmt(cx) << "\" cy=\"" << fmt(py(s.y[i])) << "\" r=\"" << kMarkerRadius << "\"/>\n";
      if (s.err.empty()) continue;
      const double y0 = py(s.y[i] - std::abs(s.err[i])), y1 = py(s.y[i] + std::abs(s.err[i]));
      o << "<path class=\"errorbar\" fill=\"none\" d=\"M" << fmt(cx) << "," << fmt(y0) << "V" << fmt(y1) << "M"
        << fmt(cx - kCapHalfWidth) << "," << fmt(y0) << "H" << fmt(cx + kCapHalfWidth) << "M"
        << fmt(cx - kCapHalfWidth) << "," << fmt(y1) << "H" << fmt(cx + kCapHalfWidth) << "\"/>\n";
    }
    const double ly = top + 8 + 18.0 * k;
    o << "<line x1=\"" << fmt(right + 12) << "\" y1=\"" << fmt(ly) << "\" x2=\"" << fmt(right + 32) << "\" y2=\""
      << fmt(ly) << "\" stroke-width=\"2\"/>\n";
    o << "<text x=\"" << fmt(right + 38) << "\" y=\"" << fmt(ly + 4) << "\" stroke=\"none\" fill=\"black\">"
      << xml_escape(s.label) << "</text>\n</g>\n";
  }
}

const char* const kSvgRoot = "<svg xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"12\"";

}  // namespace

std::string render_svg(const LinePlot& plot) {
  std::ostringstream o;
  o << kSvgRoot << " width=\"" << plot.width << "\" height=\"" << plot.height << "\">\n";
  write_plot_body(o, plot);
  o << "</svg>\n";
  return o.str();
}

std::string render_svg_panels(const std::vector<LinePlot>& panels, int columns, const std::string& title) {
  if (panels.empty()) throw std::invalid_argument("render_svg_panels: '" + title + "' has no panels");
  if (columns < 1) throw std::invalid_argument("render_svg_panels: columns must be >= 1, got " + std::to_string(columns));
  int cell_w = 0, cell_h = 0;
  for (const auto& p : panels) cell_w = std::max(cell_w, p.width), cell_h = std::max(cell_h, p.height);
  const int cols = std::min<int>(columns, static_cast<int>(panels.size()));
  const int rows = (static_cast<int>(panels.size()) + cols - 1) / cols;
  const int title_h = title.empty() ? 0 : static_cast<int>(kPanelTitleHeight);
  std::ostringstream o;
  o << kSvgRoot << " width=\"" << cols * cell_w << "\" height=\"" << title_h + rows * cell_h << "\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!title.empty())
    o << "<text x=\"" << fmt(cols * cell_w / 2.0) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">"
      << xml_escape(title) << "</text>\n";
  for (size_t k = 0; k < panels.size(); ++k) {
    // Each panel is a nested <svg> at its cell: its own coordinate system, clipped to its size.
    o << "<svg class=\"panel\" x=\"" << (k % cols) * cell_w << "\" y=\"" << title_h + (k / cols) * cell_h
      << "\" width=\"" << panels[k].width << "\" height=\"" << panels[k].height << "\">\n";
    write_plot_body(o, panels[k]);
    o << "</svg>\n";
  }
  o << "</svg>\n";
  return o.str();
}

LinePlot line_plot_from_json(const nlohmann::json& spec, const std::string& where) {
  const auto bad = [&](const std::string& why) { return std::invalid_argument(where + ": " + why); };
  if (!spec.is_object()) throw bad("a plot must be a JSON object, got " + std::string(spec.type_name()));
  static const char* const kKeys[] = {"title", "x_label", "y_label", "y_min", "y_max", "width", "height", "series"};
  for (const auto& [key, value] : spec.items())
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) throw bad("unknown key '" + key + "'");
  LinePlot p;
  try {
    p.title = spec.value("title", "");
    p.x_label = spec.value("x_label", "");
    p.y_label = spec.value("y_label", "");
    if (spec.contains("y_min")) p.y_min = spec.at("y_min").get<double>();
    if (spec.contains("y_max")) p.y_max = spec.at("y_max").get<double>();
    p.width = spec.value("width", p.width);
    p.height = spec.value("height", p.height);
    if (!spec.contains("series") || !spec.at("series").is_array()) throw bad("'series' must be a list");
    for (size_t i = 0; i < spec.at("series").size(); ++i) {
      const auto& s = spec.at("series")[i];
      const std::string at = "series[" + std::to_string(i) + "]";
      if (!s.is_object() || !s.contains("x") || !s.contains("y")) throw bad(at + ": needs 'x' and 'y' lists");
      PlotSeries series;
      series.label = s.value("label", at);
      series.x = s.at("x").get<std::vector<double>>();
      series.y = s.at("y").get<std::vector<double>>();
      if (s.contains("err")) series.err = s.at("err").get<std::vector<double>>();
      p.series.push_back(std::move(series));
    }
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("wrong type: ") + e.what());
  }
  if (p.width < 1 || p.height < 1) throw bad("width and height must be >= 1 pixel");
  return p;
}

}  // namespace rpct
