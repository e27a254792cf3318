// Training curves of one or more runs, read from each run's metrics.jsonl (written by the trainer's
// RunReport: "step" records {step, epoch, loss, lr} every train.log_every steps, "epoch" records {epoch, step,
// train_loss, test_loss, top1 | miou ..., lr, ...} at each epoch end), drawn as panels of one SVG
// (`rpctrain report RUN_DIR ... --out FILE.svg`): train loss, each test metric the runs have (top-1, mIoU) and
// the learning rate, one line per run.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/svg_plot.h"

namespace rpct {

// One run's curves. A resumed run appends to its metrics.jsonl and logs again the steps (epochs) after the
// checkpoint it resumed from: a record whose step (epoch) is not after the previous one replaces the records
// from that step (epoch) on, so each curve is the history of the run's final timeline.
struct RunCurves {
  std::string label;  // legend text
  std::string file;   // the metrics.jsonl read
  // "step" records.
  std::vector<double> step, step_loss, step_lr;
  // "epoch" records: the epoch number, the optimizer step at its end, and every other numeric field
  // (train_loss, test_loss, top1, top5, miou, lr, ...) by name; a field an epoch lacks is NaN there.
  std::vector<double> epoch, epoch_step;
  std::map<std::string, std::vector<double>> epoch_values;
};

// Reads RUN_DIR/metrics.jsonl (or `path` itself when it is a file or named *.jsonl). Errors (std::runtime_error) name the file
// and, for a bad record, its line: no such file, a line that is not a JSON object, a record without its
// numeric "step" / "epoch", a non-finite value, no records at all.
RunCurves read_run_curves(const std::string& path, const std::string& label);

// Legend labels for `paths`: each run directory's name (a metrics.jsonl file: its directory's), the path as
// given where two names would be the same.
std::vector<std::string> run_labels(const std::vector<std::string>& paths);

enum class CurveAxis { kStep, kEpoch };

// The panels: "train loss", one per test metric in `metrics` that some run has ("top1" -> "test top-1",
// "miou" -> "test mIoU", any other name as is), "learning rate"; x = optimizer step (step records for loss and
// lr, epoch records at their step for test metrics; a run without step records uses its epoch records) or
// epoch (epoch records only). A run without any point for a panel has no line there. Throws
// std::invalid_argument if no run has a single point to draw.
std::vector<LinePlot> training_curve_plots(const std::vector<RunCurves>& runs, CurveAxis x,
                                           const std::vector<std::string>& metrics = {"top1", "miou"});

}  // namespace rpct
