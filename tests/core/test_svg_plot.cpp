// The SVG line-plot writer (core/svg_plot.h): one polyline per series, error bars where given, the legend,
// text escaped, bad series named; nice tick values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/svg_plot.h"
#include "tests/expect_error.h"

namespace {

using rpct::LinePlot;
using rpct::PlotSeries;

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

LinePlot two_series() {
  LinePlot p;
  p.title = "accuracy <vs> severity & more";
  p.x_label = "severity";
  p.y_label = "top-1";
  p.y_min = 0;
  p.y_max = 1;
  p.series.push_back({"model A", {1, 2, 3}, {0.9, 0.7, 0.5}, {0.05, 0.1, 0.02}});
  p.series.push_back({"model B", {1, 2, 3}, {0.8, 0.6, 0.3}, {}});
  return p;
}

TEST(SvgPlot, SeriesErrorBarsLegend) {
  const std::string svg = rpct::render_svg(two_series());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2);
  EXPECT_EQ(count(svg, "class=\"errorbar\""), 3);  // only model A has error bars
  EXPECT_EQ(count(svg, "<circle"), 6);
  EXPECT_NE(svg.find(">model A<"), std::string::npos);
  EXPECT_NE(svg.find("accuracy &lt;vs&gt; severity &amp; more"), std::string::npos);
}

TEST(SvgPlot, ErrorBarLengthFollowsTheData) {
  // y range 0..1 over the plot height minus margins: a bar of +-0.1 is twice as long as one of +-0.05.
  LinePlot p;
  p.y_min = 0;
  p.y_max = 1;
  p.series.push_back({"s", {1, 2}, {0.5, 0.5}, {0.05, 0.1}});
  const std::string svg = rpct::render_svg(p);
  std::vector<double> lengths;
  for (size_t at = svg.find("class=\"errorbar\""); at != std::string::npos; at = svg.find("class=\"errorbar\"", at + 1)) {
    const size_t d = svg.find("d=\"M", at);
    double x0, y0, y1;
    ASSERT_EQ(std::sscanf(svg.c_str() + d, "d=\"M%lf,%lfV%lf", &x0, &y0, &y1), 3);
    lengths.push_back(std::abs(y1 - y0));
  }
  ASSERT_EQ(lengths.size(), 2u);
  EXPECT_NEAR(lengths[1], 2 * lengths[0], 0.02);  // coordinates are written with 2 decimals
}

TEST(SvgPlot, BadSeriesAreNamed) {
  LinePlot p;
  p.series.push_back({"short", {1, 2, 3}, {0.1, 0.2}, {}});
  rpct::test::expect_error_naming([&] { rpct::render_svg(p); }, {"short", "3 x values", "2 y values"});
  p.series[0] = {"bars", {1, 2}, {0.1, 0.2}, {0.1}};
  rpct::test::expect_error_naming([&] { rpct::render_svg(p); }, {"bars", "1 error bars"});
  rpct::test::expect_error_naming([] { rpct::render_svg(LinePlot{}); }, {"no points"});
}

TEST(SvgPlot, NiceTicks) {
  const auto unit = rpct::nice_ticks(0, 1, 5);
  ASSERT_EQ(unit.size(), 6u);
  for (size_t i = 0; i < unit.size(); ++i) EXPECT_NEAR(unit[i], 0.2 * i, 1e-12) << i;
  const auto t = rpct::nice_ticks(1, 6, 6);
  EXPECT_DOUBLE_EQ(t.front(), 1);
  EXPECT_DOUBLE_EQ(t.back(), 6);
  EXPECT_EQ(t.size(), 6u);
}

}  // namespace
