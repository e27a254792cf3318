// The benchmarks' report (robust/bench_report.h) on small hand-made per-checkpoint results: the Markdown and
// console tables (bench classify's paper columns and the generic columns bench segment uses), every cell against
// the value written here by hand; the SVG plots (corruption families vs severity, attacks vs eps), every point
// and error bar read back from the SVG and mapped to data through the plot's own axes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "robust/bench_report.h"

namespace {

using json = nlohmann::json;
using namespace rpct::robust;

// SVG coordinates are written with 2 decimals (core/svg_plot.cpp): a point read back is within half of the last
// decimal of the exact position, plus a hair for the doubles of the check itself.
constexpr double kCoordTolerance = 0.005 + 1e-9;

// Two checkpoints, as bench classify's summarize_items writes them. vit-a: clean, C (mCE, relative mCE, noise and
// digital families), ImageNet-O, FGSM at 3 eps and PGD at 2, in pixel space; vit-b: clean, ImageNet-A and FGSM in
// normalized space only. Nobody has ImageNet-R (no column). The eps are numbers as strings ("16" sorts before
// "2" as text, not as a number).
std::vector<json> classify_checkpoints() {
  const json a = {
      {"label", "vit-a"},
      {"summary",
       {{"clean_top1", 0.9},
        {"c",
         {{"mce", 0.754321},
          {"relative_mce", 1.234561},
          {"family_accuracy_by_severity", {{"noise", {0.8, 0.6, 0.4, 0.3, 0.2}}, {"digital", {0.85, 0.8, 0.7, 0.6, 0.5}}}},
          {"family_accuracy_std_by_severity",
           {{"noise", {0.05, 0.05, 0.1, 0.1, 0.0}}, {"digital", {0.01, 0.02, 0.03, 0.04, 0.05}}}}}},
        {"o", {{"aupr", 0.612341}, {"auroc", 0.7}, {"fpr95", 0.8}}},
        {"attacks",
         {{"fgsm",
           {{"pixel",
             {{"2", {{"top1", 0.5}, {"flip_rate", 0.45}, {"clean_top1", 0.9}}},
              {"8", {{"top1", 0.25}, {"flip_rate", 0.7}, {"clean_top1", 0.9}}},
              {"16", {{"top1", 0.004}, {"flip_rate", 0.99}, {"clean_top1", 0.9}}}}}}},
          {"pgd",
           {{"pixel",
             {{"2", {{"top1", 0.45}, {"flip_rate", 0.5}, {"clean_top1", 0.9}}},
              {"8", {{"top1", 0.1}, {"flip_rate", 0.9}, {"clean_top1", 0.9}}}}}}}}}}}};
  const json b = {{"label", "vit-b"},
                  {"summary",
                   {{"clean_top1", 1.0},
                    {"a_top1", 0.333333},
                    {"attacks",
                     {{"fgsm", {{"normalized", {{"4", {{"top1", 0.7}, {"flip_rate", 0.3}, {"clean_top1", 1.0}}}}}}}}}}}};
  return {a, b};
}

// The cells of a Markdown table: the lines from the one starting with "| model |" to the last line starting
// with "|", each split at its "|" and trimmed.
std::vector<std::vector<std::string>> markdown_cells(const std::string& md) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(md);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| model |", 0) == 0) inside = true;
    if (!inside) continue;
    if (line.empty() || line[0] != '|') break;
    std::vector<std::string> cells;
    for (size_t at = 1, next; (next = line.find('|', at)) != std::string::npos; at = next + 1) {
      std::string cell = line.substr(at, next - at);
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
    }
    rows.push_back(cells);
  }
  return rows;
}

// The cells of a console table whose header is `header` (its column names in order): each column is
// right-aligned to the end of its header name, columns are 2 spaces apart. Fails the test when a line has
// another length or text outside the cells.
std::vector<std::vector<std::string>> console_cells(const std::string& table, const std::vector<std::string>& header,
                                                    size_t rows) {
  std::istringstream in(table);
  std::vector<std::string> lines;
  for (std::string line; lines.size() < rows + 1 && std::getline(in, line);) lines.push_back(line);
  EXPECT_EQ(lines.size(), rows + 1) << table;
  std::vector<size_t> ends;  // one past each column's last character, from the header line
  size_t at = 0;
  for (const auto& h : header) {
    const size_t found = lines.at(0).find(h, at);
    EXPECT_NE(found, std::string::npos) << "header '" << h << "' not in: " << lines.at(0);
    if (found == std::string::npos) return {};
    ends.push_back(found + h.size());
    at = found + h.size();
  }
  std::vector<std::vector<std::string>> out;
  for (const auto& line : lines) {
    EXPECT_EQ(line.size(), ends.back()) << "not aligned: '" << line << "'";
    std::vector<std::string> cells;
    size_t begin = 0;
    for (size_t end : ends) {
      const std::string cell = line.substr(begin, end - begin);
      const size_t first = cell.find_first_not_of(' ');
      cells.push_back(first == std::string::npos ? "" : cell.substr(first));
      if (begin > 0) {
        EXPECT_GE(first, 2u) << "columns less than 2 spaces apart: '" << line << "'";
      }
      begin = end;
    }
    out.push_back(cells);
  }
  return out;
}

TEST(BenchReport, ClassifyMarkdownTableEveryCell) {
  const std::string md = markdown_table(classify_checkpoints());
  const std::vector<std::vector<std::string>> expected = {
      {"model", "clean top-1", "mCE", "rel. mCE", "IN-A top-1", "IN-O AUPR", "FGSM-norm 4", "FGSM-px 2", "FGSM-px 8",
       "FGSM-px 16", "PGD-px 2", "PGD-px 8"},
      {"---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"},
      {"vit-a", "90.00", "75.43", "123.46", "-", "61.23", "-", "50.00", "25.00", "0.40", "45.00", "10.00"},
      {"vit-b", "100.00", "-", "-", "33.33", "-", "70.00", "-", "-", "-", "-", "-"},
  };
  const auto got = markdown_cells(md);
  ASSERT_EQ(got.size(), expected.size()) << md;
  for (size_t r = 0; r < expected.size(); ++r) {
    ASSERT_EQ(got[r].size(), expected[r].size()) << "row " << r << " of:\n" << md;
    for (size_t c = 0; c < expected[r].size(); ++c)
      EXPECT_EQ(got[r][c], expected[r][c]) << "row " << r << " (" << expected[r][0] << "), column " << c << " ("
                                           << expected[0][c] << ")";
  }
  // The note under the table says what the numbers are.
  EXPECT_NE(md.find("\n\nPercent. mCE / relative mCE: AlexNet = 100"), std::string::npos) << md;
}

TEST(BenchReport, ClassifyConsoleTableEveryCell) {
  const std::string table = console_table(classify_checkpoints());
  const std::vector<std::string> header = {"checkpoint", "clean top-1", "mCE",       "rel. mCE",   "IN-A top-1", "IN-O AUPR",
                                           "FGSM-norm 4", "FGSM-px 2",  "FGSM-px 8", "FGSM-px 16", "PGD-px 2",   "PGD-px 8"};
  const std::vector<std::vector<std::string>> expected = {
      header,
      {"vit-a", "90.00", "75.43", "123.46", "-", "61.23", "-", "50.00", "25.00", "0.40", "45.00", "10.00"},
      {"vit-b", "100.00", "-", "-", "33.33", "-", "70.00", "-", "-", "-", "-", "-"},
  };
  const auto got = console_cells(table, header, 2);
  ASSERT_EQ(got.size(), expected.size()) << table;
  for (size_t r = 0; r < expected.size(); ++r)
    for (size_t c = 0; c < expected[r].size(); ++c)
      EXPECT_EQ(got[r].at(c), expected[r][c]) << "row " << r << ", column " << header[c] << ":\n" << table;
  EXPECT_NE(table.find("\n(percent; mCE and relative mCE: AlexNet = 100"), std::string::npos) << table;
}

// The generic columns (bench segment's kind): a column no checkpoint has is left out; "-" where one lacks it.
TEST(BenchReport, GenericColumnsMarkdownAndConsole) {
  const std::vector<json> checkpoints = {
      {{"label", "seg-a"}, {"summary", {{"clean", {{"miou", 0.512345}}}, {"c", {{"mean_miou", {{"fog", 0.421}}}, {"mean", 0.3}}}}}},
      {{"label", "seg-b"}, {"summary", {{"clean", {{"miou", 0.487655}}}}}},
  };
  const std::vector<TableColumn> columns = {{"clean mIoU", json::json_pointer("/clean/miou")},
                                            {"fog", json::json_pointer("/c/mean_miou/fog")},
                                            {"snow", json::json_pointer("/c/mean_miou/snow")},
                                            {"mean", json::json_pointer("/c/mean")}};
  const auto present = present_columns(checkpoints, columns);
  ASSERT_EQ(present.size(), 3u);
  EXPECT_EQ(present[0].header, "clean mIoU");
  EXPECT_EQ(present[1].header, "fog");
  EXPECT_EQ(present[2].header, "mean");  // no checkpoint has snow
  const std::vector<std::vector<std::string>> expected = {
      {"model", "clean mIoU", "fog", "mean"},
      {"---", "---:", "---:", "---:"},
      {"seg-a", "51.23", "42.10", "30.00"},
      {"seg-b", "48.77", "-", "-"},
  };
  const std::string md = markdown_table(checkpoints, present, "The note.");
  EXPECT_EQ(markdown_cells(md), expected) << md;
  EXPECT_EQ(md.substr(md.size() - 11), "\nThe note.\n") << md;
  const std::vector<std::string> header = {"checkpoint", "clean mIoU", "fog", "mean"};
  const std::string table = console_table(checkpoints, present, "(the footnote)");
  const auto got = console_cells(table, header, 2);
  const std::vector<std::vector<std::string>> expected_console = {
      header, {"seg-a", "51.23", "42.10", "30.00"}, {"seg-b", "48.77", "-", "-"}};
  EXPECT_EQ(got, expected_console) << table;
  EXPECT_EQ(table.substr(table.size() - 16), "\n(the footnote)\n") << table;
}

// --- plots ---

struct SvgSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (cx, cy) of each marker
  std::vector<std::pair<double, double>> bars;    // (y of the lower end, y of the upper end), pixels
};
struct SvgPlot {
  std::string title;
  double left = 0, right = 0, top = 0, bottom = 0;  // the plot area, from its axes
  std::vector<SvgSeries> series;
};

// Reads back what core/svg_plot.cpp writes: the title (first <text>), the axes (the two lines of the black
// group: x axis at the bottom, y axis at the left), and per series group its markers, error bars and legend.
SvgPlot parse_svg(const std::string& svg) {
  SvgPlot p;
  const size_t t = svg.find("<text");
  const size_t t0 = svg.find('>', t) + 1;
  p.title = svg.substr(t0, svg.find("</text>", t0) - t0);
  const size_t axes = svg.find("<g stroke=\"black\">");
  EXPECT_NE(axes, std::string::npos);
  double x1, y1, x2, y2, yx1, yy1, yx2, yy2;
  EXPECT_EQ(std::sscanf(svg.c_str() + axes,
                        "<g stroke=\"black\">\n<line x1=\"%lf\" y1=\"%lf\" x2=\"%lf\" y2=\"%lf\"/>\n"
                        "<line x1=\"%lf\" y1=\"%lf\" x2=\"%lf\" y2=\"%lf\"/>",
                        &x1, &y1, &x2, &y2, &yx1, &yy1, &yx2, &yy2),
            8);
  p.left = x1, p.right = x2, p.bottom = y1, p.top = yy1;
  for (size_t g = svg.find("\" fill=\"#"); g != std::string::npos; g = svg.find("\" fill=\"#", g + 1)) {
    const size_t end = svg.find("</g>", g);
    const std::string body = svg.substr(g, end - g);
    SvgSeries s;
    for (size_t c = body.find("<circle"); c != std::string::npos; c = body.find("<circle", c + 1)) {
      double cx, cy;
      EXPECT_EQ(std::sscanf(body.c_str() + c, "<circle cx=\"%lf\" cy=\"%lf\"", &cx, &cy), 2);
      s.points.emplace_back(cx, cy);
    }
    for (size_t b = body.find("class=\"errorbar\""); b != std::string::npos; b = body.find("class=\"errorbar\"", b + 1)) {
      double x, ya, yb;
      EXPECT_EQ(std::sscanf(body.c_str() + body.find("d=\"M", b), "d=\"M%lf,%lfV%lf", &x, &ya, &yb), 3);
      s.bars.emplace_back(ya, yb);
    }
    const size_t close = body.rfind("</text>");
    s.label = body.substr(body.rfind('>', close) + 1, close - body.rfind('>', close) - 1);
    p.series.push_back(s);
  }
  return p;
}

struct ExpectedSeries {
  std::string label;
  std::vector<double> x, y, err;  // err empty: no error bars
};

// Every marker of every series at its (x, y) on a 0..1 y axis (the report fixes it for accuracies and mIoU) and
// an x axis over the data's x range; every error bar y - err .. y + err.
void expect_plot(const std::string& svg, const std::string& title, const std::vector<ExpectedSeries>& expected) {
  const SvgPlot p = parse_svg(svg);
  EXPECT_EQ(p.title, title);
  ASSERT_EQ(p.series.size(), expected.size()) << svg;
  double x_lo = 1e300, x_hi = -1e300;
  for (const auto& e : expected)
    for (double x : e.x) x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
  const auto px = [&](double x) { return p.left + (x - x_lo) / (x_hi - x_lo) * (p.right - p.left); };
  const auto py = [&](double y) { return p.bottom - y * (p.bottom - p.top); };
  for (size_t k = 0; k < expected.size(); ++k) {
    const auto& e = expected[k];
    const auto& s = p.series[k];
    EXPECT_EQ(s.label, e.label);
    ASSERT_EQ(s.points.size(), e.x.size()) << e.label;
    for (size_t i = 0; i < e.x.size(); ++i) {
      EXPECT_NEAR(s.points[i].first, px(e.x[i]), kCoordTolerance) << e.label << " point " << i << " (x " << e.x[i] << ")";
      EXPECT_NEAR(s.points[i].second, py(e.y[i]), kCoordTolerance) << e.label << " point " << i << " (y " << e.y[i] << ")";
    }
    ASSERT_EQ(s.bars.size(), e.err.size()) << e.label;
    for (size_t i = 0; i < e.err.size(); ++i) {
      EXPECT_NEAR(s.bars[i].first, py(e.y[i] - e.err[i]), kCoordTolerance) << e.label << " bar " << i;
      EXPECT_NEAR(s.bars[i].second, py(e.y[i] + e.err[i]), kCoordTolerance) << e.label << " bar " << i;
    }
  }
}

std::map<std::string, std::string> by_name(const std::vector<std::pair<std::string, std::string>>& plots) {
  std::map<std::string, std::string> m;
  for (const auto& [name, svg] : plots) EXPECT_TRUE(m.emplace(name, svg).second) << "two plots named " << name;
  return m;
}

TEST(BenchReport, ClassifyPlotsEveryPoint) {
  const auto plots = by_name(bench_plots(classify_checkpoints()));
  std::vector<std::string> names;
  for (const auto& [name, svg] : plots) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"c_digital.svg", "c_noise.svg", "fgsm_normalized.svg", "fgsm_pixel.svg",
                                             "pgd_pixel.svg"}));
  // Families: only vit-a has C results; severities 1..5 (the summary names none), bars = the family's spread.
  expect_plot(plots.at("c_noise.svg"),
              "ImageNet-C noise: top-1 accuracy vs severity (bars: spread over its corruptions)",
              {{"vit-a", {1, 2, 3, 4, 5}, {0.8, 0.6, 0.4, 0.3, 0.2}, {0.05, 0.05, 0.1, 0.1, 0.0}}});
  expect_plot(plots.at("c_digital.svg"),
              "ImageNet-C digital: top-1 accuracy vs severity (bars: spread over its corruptions)",
              {{"vit-a", {1, 2, 3, 4, 5}, {0.85, 0.8, 0.7, 0.6, 0.5}, {0.01, 0.02, 0.03, 0.04, 0.05}}});
  // Attacks: eps 0 is the clean top-1, then the eps in numeric order.
  expect_plot(plots.at("fgsm_pixel.svg"), "fgsm (pixel space): top-1 vs eps",
              {{"vit-a", {0, 2, 8, 16}, {0.9, 0.5, 0.25, 0.004}, {}}});
  expect_plot(plots.at("pgd_pixel.svg"), "pgd (pixel space): top-1 vs eps", {{"vit-a", {0, 2, 8}, {0.9, 0.45, 0.1}, {}}});
  expect_plot(plots.at("fgsm_normalized.svg"), "fgsm (normalized space): top-1 vs eps",
              {{"vit-b", {0, 4}, {1.0, 0.7}, {}}});
}

// bench segment's plots: the severities a summary names (here 1, 3, 5) are the x values; one without them gets
// 1..5; a family only one checkpoint has gets one series.
TEST(BenchReport, FamilySeverityPlotsEveryPoint) {
  const std::vector<json> checkpoints = {
      {{"label", "seg-a"},
       {"summary",
        {{"c",
          {{"severities", {1, 3, 5}},
           {"family_miou_by_severity", {{"noise", {0.5, 0.4, 0.1}}, {"weather", {0.6, 0.55, 0.35}}}},
           {"family_miou_std_by_severity", {{"noise", {0.02, 0.04, 0.06}}, {"weather", {0.0, 0.01, 0.1}}}}}}}}},
      {{"label", "seg-b"},
       {"summary",
        {{"c",
          {{"family_miou_by_severity", {{"noise", {0.45, 0.4, 0.3, 0.2, 0.15}}}},
           {"family_miou_std_by_severity", {{"noise", {0.01, 0.01, 0.02, 0.03, 0.05}}}}}}}}},
  };
  const auto plots = by_name(family_severity_plots(checkpoints, json::json_pointer("/c/family_miou_by_severity"),
                                                   json::json_pointer("/c/family_miou_std_by_severity"),
                                                   json::json_pointer("/c/severities"), "corruption family", "mIoU"));
  ASSERT_EQ(plots.size(), 2u);
  expect_plot(plots.at("c_noise.svg"), "corruption family noise: mIoU vs severity (bars: spread over its corruptions)",
              {{"seg-a", {1, 3, 5}, {0.5, 0.4, 0.1}, {0.02, 0.04, 0.06}},
               {"seg-b", {1, 2, 3, 4, 5}, {0.45, 0.4, 0.3, 0.2, 0.15}, {0.01, 0.01, 0.02, 0.03, 0.05}}});
  expect_plot(plots.at("c_weather.svg"),
              "corruption family weather: mIoU vs severity (bars: spread over its corruptions)",
              {{"seg-a", {1, 3, 5}, {0.6, 0.55, 0.35}, {0.0, 0.01, 0.1}}});
}

}  // namespace
