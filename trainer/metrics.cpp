#include "trainer/metrics.h"

#include <map>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace rpct {

std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm%02lds", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%02ldm%02lds", s / 60, s % 60);
  return buf;
}

Progress::Progress(std::string label, int64_t total_steps, bool enabled)
    // Under mpirun, stdout is a pseudo-terminal even when the job's output goes to a file: use
    // plain lines there (a live bar only for a single process on a real terminal).
    : label_(std::move(label)), total_(total_steps), enabled_(enabled),
      tty_(isatty(STDOUT_FILENO) == 1 && std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr),
      start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t step, int64_t images_done, double loss, double lr, int every) {
  if (!enabled_) return;
  char status[64];
  std::snprintf(status, sizeof(status), "loss %.4f lr %.2e", loss, lr);
  update(step, images_done, std::string(status), every);
}

void Progress::update(int64_t step, int64_t images_done, const std::string& status, int every) {
  if (!enabled_) return;
  const bool last = step == total_;
  if (!tty_ && step % every != 0 && !last) return;
  const double t = elapsed_s();
  const double ips = t > 0 ? images_done / t : 0.0;
  const double eta = step > 0 ? t * (total_ - step) / step : 0.0;
  const int width = 24;
  const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::printf("%s%s [%s] %lld/%lld %s%s%.0f img/s ETA %s%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
              static_cast<long long>(step), static_cast<long long>(total_), status.c_str(), status.empty() ? "" : " ",
              ips, format_duration(eta).c_str(), tty_ ? "" : "\n");
  std::fflush(stdout);
}

void Progress::finish() {
  if (enabled_ && tty_) std::printf("\n");
}

std::vector<std::pair<std::string, double>> tensorboard_scalars(const nlohmann::json& record) {
  static const std::map<std::string, std::map<std::string, std::string>> kTags = {
      {"step", {{"loss", "train/loss"}, {"lr", "train/lr"}, {"grad_norm", "train/grad_norm"}}},
      {"epoch",
       {{"train_loss", "train/epoch_loss"}, {"images_per_s", "train/images_per_s"},
        {"skipped_steps", "train/skipped_steps"}, {"skipped_samples", "data/skipped_samples"},
        {"loader_wait_s", "data/loader_wait_s"}, {"elapsed_s", "time/elapsed_s"}, {"epoch", "train/epoch"},
        {"lr", ""}, {"step", ""}, {"kind", ""}}}};
  std::vector<std::pair<std::string, double>> out;
  const auto kind = kTags.find(record.value("kind", ""));
  if (kind == kTags.end()) return out;
  for (const auto& [name, value] : record.items()) {
    if (!value.is_number()) continue;  // nulls (NaN), strings
    const auto known = kind->second.find(name);
    std::string tag;
    if (known != kind->second.end())
      tag = known->second;
    else if (kind->first == "epoch")  // an evaluation metric
      tag = "test/" + (name == "test_loss" ? std::string("loss") : name);
    if (!tag.empty()) out.emplace_back(tag, value.get<double>());
  }
  return out;
}

JsonlWriter::JsonlWriter(const std::string& path) : out_(path, std::ios::app) {
  if (!out_) throw std::runtime_error(path + ": cannot open for writing");
}

void JsonlWriter::write(const nlohmann::json& record) {
  if (!out_.is_open()) return;
  out_ << record.dump() << "\n";
  out_.flush();
}

}  // namespace rpct
