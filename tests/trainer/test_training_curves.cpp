// Training curves from metrics.jsonl (trainer/training_curves.h, `rpctrain report`): two small hand-written
// runs give one line per run in every panel, the legend names them, a resumed run's repeated records are
// replaced, and bad files are errors naming file:line.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "core/svg_plot.h"
#include "tests/expect_error.h"
#include "tests/test_files.h"
#include "trainer/training_curves.h"

namespace {

using rpct::test::TempDir;
using rpct::test::write_bytes;

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The text between the k-th `<svg class="panel"` and its `</svg>`.
std::string panel_text(const std::string& svg, int k) {
  size_t at = 0;
  for (int i = 0; i <= k; ++i) at = svg.find("<svg class=\"panel\"", i ? at + 1 : 0);
  return svg.substr(at, svg.find("</svg>", at) - at);
}

// Records as RunReport writes them: steps every 2 optimizer steps, an epoch record every 4 steps.
const char* kRunA =
    R"({"kind":"step","step":2,"epoch":1,"loss":2.2,"lr":0.001}
{"kind":"step","step":4,"epoch":1,"loss":1.9,"lr":0.0009}
{"kind":"epoch","epoch":1,"step":4,"train_loss":2.0,"test_loss":1.8,"top1":0.41,"top5":0.9,"lr":0.0009,"images_per_s":100.0}
{"kind":"step","step":6,"epoch":2,"loss":1.5,"lr":0.0005}
{"kind":"step","step":8,"epoch":2,"loss":1.2,"lr":0.0001}
{"kind":"epoch","epoch":2,"step":8,"train_loss":1.3,"test_loss":1.1,"top1":0.62,"top5":0.95,"lr":0.0001,"images_per_s":110.0}
)";
const char* kRunB =
    R"({"kind":"step","step":2,"epoch":1,"loss":2.3,"lr":0.002}
{"kind":"step","step":4,"epoch":1,"loss":2.1,"lr":0.0018}
{"kind":"epoch","epoch":1,"step":4,"train_loss":2.2,"test_loss":2.0,"top1":0.30,"top5":0.8,"lr":0.0018}
{"kind":"step","step":6,"epoch":2,"loss":1.8,"lr":0.001}
{"kind":"epoch","epoch":2,"step":6,"train_loss":1.9,"test_loss":1.7,"top1":0.45,"top5":0.85,"lr":0.001}
)";

class TrainingCurves : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [name, text] : {std::pair<std::string, const char*>{"run_a", kRunA}, {"run_b", kRunB}}) {
      boost::filesystem::create_directories(dir.file(name));
      write_bytes(dir.file(name + "/metrics.jsonl"), text);
    }
  }
  std::vector<rpct::RunCurves> both() {
    const std::vector<std::string> paths = {dir.file("run_a"), dir.file("run_b/metrics.jsonl")};
    const auto labels = rpct::run_labels(paths);
    return {rpct::read_run_curves(paths[0], labels[0]), rpct::read_run_curves(paths[1], labels[1])};
  }
  TempDir dir;
};

TEST_F(TrainingCurves, ReadsStepAndEpochRecords) {
  const auto runs = both();
  EXPECT_EQ(runs[0].label, "run_a");
  EXPECT_EQ(runs[1].label, "run_b");  // a metrics.jsonl path is labelled by its directory
  EXPECT_EQ(runs[0].step, (std::vector<double>{2, 4, 6, 8}));
  EXPECT_EQ(runs[0].step_loss, (std::vector<double>{2.2, 1.9, 1.5, 1.2}));
  EXPECT_EQ(runs[0].epoch_step, (std::vector<double>{4, 8}));
  EXPECT_EQ(runs[0].epoch_values.at("top1"), (std::vector<double>{0.41, 0.62}));
  EXPECT_EQ(runs[1].epoch_values.count("images_per_s"), 0u);  // a field none of its records has
}

TEST_F(TrainingCurves, OneLinePerRunPerPanelWithLegend) {
  for (auto axis : {rpct::CurveAxis::kStep, rpct::CurveAxis::kEpoch}) {
    const auto plots = rpct::training_curve_plots(both(), axis);
    ASSERT_EQ(plots.size(), 3u);  // train loss, test top-1 (no run has miou), learning rate
    EXPECT_EQ(plots[0].title, "train loss");
    EXPECT_EQ(plots[1].title, "test top-1 (end of epoch)");
    EXPECT_EQ(plots[2].title, "learning rate");
    const std::string svg = rpct::render_svg_panels(plots, 2, "curves");
    EXPECT_EQ(count(svg, "<svg class=\"panel\""), 3);
    for (int k = 0; k < 3; ++k) {
      const std::string panel = panel_text(svg, k);
      EXPECT_EQ(count(panel, "<polyline"), 2) << "panel " << k;
      EXPECT_EQ(count(panel, ">run_a</text>"), 1) << "panel " << k;
      EXPECT_EQ(count(panel, ">run_b</text>"), 1) << "panel " << k;
    }
  }
  // x = step: the loss panel draws the step records (4 and 3 points); x = epoch: the epoch records (2 and 2).
  const auto by_step = rpct::training_curve_plots(both(), rpct::CurveAxis::kStep);
  EXPECT_EQ(by_step[0].series[0].x, (std::vector<double>{2, 4, 6, 8}));
  EXPECT_EQ(by_step[1].series[1].x, (std::vector<double>{4, 6}));  // test top-1 at the epochs' steps
  const auto by_epoch = rpct::training_curve_plots(both(), rpct::CurveAxis::kEpoch);
  EXPECT_EQ(by_epoch[0].series[1].y, (std::vector<double>{2.2, 1.9}));
  EXPECT_EQ(by_epoch[2].series[0].y, (std::vector<double>{0.0009, 0.0001}));
}

TEST_F(TrainingCurves, SegmentationRunsGetAnMiouPanel) {
  write_bytes(dir.file("seg.jsonl"), R"({"kind":"epoch","epoch":1,"step":10,"train_loss":1.0,"miou":0.2,"lr":0.01}
{"kind":"epoch","epoch":2,"step":20,"train_loss":0.8,"miou":0.3,"lr":0.005}
)");
  auto runs = both();
  runs.push_back(rpct::read_run_curves(dir.file("seg.jsonl"), "seg"));
  const auto plots = rpct::training_curve_plots(runs, rpct::CurveAxis::kStep);
  ASSERT_EQ(plots.size(), 4u);
  EXPECT_EQ(plots[2].title, "test mIoU (end of epoch)");
  ASSERT_EQ(plots[2].series.size(), 1u);  // only the segmentation run has mIoU
  EXPECT_EQ(plots[2].series[0].label, "seg");
  EXPECT_EQ(plots[0].series[2].x, (std::vector<double>{10, 20}));  // no step records: epoch records at their step
}

TEST_F(TrainingCurves, AResumedRunKeepsItsFinalTimeline) {
  // Resumed from the checkpoint at step 4: steps 6.. and epoch 2 are logged again with other values.
  write_bytes(dir.file("resumed.jsonl"), std::string(kRunA) + R"({"kind":"step","step":6,"epoch":2,"loss":1.4,"lr":0.0005}
{"kind":"step","step":8,"epoch":2,"loss":1.1,"lr":0.0001}
{"kind":"epoch","epoch":2,"step":8,"train_loss":1.25,"top1":0.63,"lr":0.0001}
)");
  const auto r = rpct::read_run_curves(dir.file("resumed.jsonl"), "resumed");
  EXPECT_EQ(r.step, (std::vector<double>{2, 4, 6, 8}));
  EXPECT_EQ(r.step_loss, (std::vector<double>{2.2, 1.9, 1.4, 1.1}));
  EXPECT_EQ(r.epoch_values.at("top1"), (std::vector<double>{0.41, 0.63}));
  // The new epoch-2 record has no test_loss: NaN there, epoch 1's kept.
  ASSERT_EQ(r.epoch_values.at("test_loss").size(), 2u);
  EXPECT_EQ(r.epoch_values.at("test_loss")[0], 1.8);
  EXPECT_TRUE(std::isnan(r.epoch_values.at("test_loss")[1]));
}

TEST_F(TrainingCurves, NullValuesAreLeftOut) {
  // The trainer writes a NaN loss (train.on_nonfinite skip) as null.
  write_bytes(dir.file("nan.jsonl"), R"({"kind":"step","step":1,"epoch":1,"loss":null,"lr":0.1}
{"kind":"step","step":2,"epoch":1,"loss":1.0,"lr":0.1}
{"kind":"step","step":3,"epoch":1,"loss":0.9,"lr":0.1}
)");
  const auto plots = rpct::training_curve_plots({rpct::read_run_curves(dir.file("nan.jsonl"), "n")}, rpct::CurveAxis::kStep);
  EXPECT_EQ(plots[0].series[0].x, (std::vector<double>{2, 3}));
  EXPECT_EQ(plots.back().series[0].x, (std::vector<double>{1, 2, 3}));
}

TEST_F(TrainingCurves, BadFilesAreNamed) {
  using rpct::test::expect_error_naming;
  expect_error_naming([&] { rpct::read_run_curves(dir.file("missing_run"), "x"); },
                      {dir.file("missing_run/metrics.jsonl"), "no such file"});
  write_bytes(dir.file("corrupt.jsonl"), std::string(kRunB) + "{\"kind\":\"step\",\"step\":8,\"lo\n");
  expect_error_naming([&] { rpct::read_run_curves(dir.file("corrupt.jsonl"), "x"); },
                      {dir.file("corrupt.jsonl") + ":6:", "not a JSON object"});
  write_bytes(dir.file("nostep.jsonl"), "\n{\"kind\":\"epoch\",\"epoch\":1,\"top1\":0.5}\n");
  expect_error_naming([&] { rpct::read_run_curves(dir.file("nostep.jsonl"), "x"); },
                      {dir.file("nostep.jsonl") + ":2:", "'step'"});
  write_bytes(dir.file("text.jsonl"), "{\"kind\":\"step\",\"step\":1,\"loss\":\"high\"}\n");
  expect_error_naming([&] { rpct::read_run_curves(dir.file("text.jsonl"), "x"); },
                      {dir.file("text.jsonl") + ":1:", "'loss' is not a number"});
  write_bytes(dir.file("empty.jsonl"), "");
  expect_error_naming([&] { rpct::read_run_curves(dir.file("empty.jsonl"), "x"); },
                      {dir.file("empty.jsonl"), "no step or epoch records"});
}

TEST(RunLabels, DirectoryNamesUnlessTheyClash) {
  EXPECT_EQ(rpct::run_labels({"runs/a/", "runs/b/metrics.jsonl", "x/c"}),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rpct::run_labels({"s0/sym", "s1/sym", "rpc"}), (std::vector<std::string>{"s0/sym", "s1/sym", "rpc"}));
}

TEST(SvgPanels, GridAndSpec) {
  rpct::LinePlot p;
  p.series.push_back({"s", {1, 2}, {3, 4}, {}});
  const std::string svg = rpct::render_svg_panels({p, p, p}, 2, "grid");
  // 2 columns x 2 rows of 640 x 400 under a title: the document's size and the third panel's place.
  EXPECT_NE(svg.find("width=\"1280\" height=\"832\""), std::string::npos);
  EXPECT_NE(svg.find("<svg class=\"panel\" x=\"0\" y=\"432\""), std::string::npos);
  rpct::test::expect_error_naming([] { rpct::render_svg_panels({}, 2, "none"); }, {"none", "no panels"});
  const auto spec = nlohmann::json::parse(
      R"({"title": "t", "y_min": 0, "series": [{"label": "v", "x": [1, 2], "y": [0.5, 0.6], "err": [0.1, 0.1]}]})");
  const auto q = rpct::line_plot_from_json(spec, "spec.json");
  EXPECT_EQ(q.series[0].err, (std::vector<double>{0.1, 0.1}));
  EXPECT_EQ(*q.y_min, 0);
  rpct::test::expect_error_naming([] { rpct::line_plot_from_json(nlohmann::json::parse(R"({"serie": []})"), "f.json: plot 1"); },
                                  {"f.json: plot 1", "unknown key 'serie'"});
  rpct::test::expect_error_naming(
      [] { rpct::line_plot_from_json(nlohmann::json::parse(R"({"series": [{"x": [1], "y": ["a"]}]})"), "f.json"); },
      {"f.json", "wrong type"});
}

}  // namespace
