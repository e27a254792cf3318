#include "trainer/optimizer.h"

#include <string>
#include <utility>
#include <vector>

namespace rpct {
namespace {

// An optimizer of type OptimizerT over the task's parameters in two groups: `options` for those that decay,
// the same with weight decay 0 for Task::no_weight_decay's.
template <typename OptimizerT, typename OptionsT>
std::unique_ptr<torch::optim::Optimizer> with_decay_groups(Task& task, const OptionsT& options) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : task.model().named_parameters())
    (task.no_weight_decay(p.key(), p.value()) ? no_decay : decay).push_back(p.value());
  OptionsT without_decay = options;
  without_decay.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<OptionsT>(options));
  groups.emplace_back(no_decay, std::make_unique<OptionsT>(without_decay));
  return std::make_unique<OptimizerT>(std::move(groups), options);
}

// The state tensor `prefix + name` of `saved`, checked against the shape of its parameter `p`.
const torch::Tensor* find_state(const std::map<std::string, const torch::Tensor*>& saved, const std::string& prefix,
                                const std::string& name, const torch::Tensor& p, const std::string& file) {
  auto it = saved.find(prefix + name);
  if (it == saved.end()) return nullptr;
  if (it->second->sizes() != p.sizes())
    throw std::runtime_error(file + ": optimizer state '" + prefix + name + "' has shape " +
                             c10::str(it->second->sizes()) + ", its parameter has " + c10::str(p.sizes()));
  return it->second;
}

// A copy of saved state `t` on `device`: the optimizer updates its state in place, which must not write into
// the caller's tensors.
torch::Tensor own_copy(const torch::Tensor& t, torch::Device device) {
  return t.to(device, t.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Task& task, const TrainConfig& t) {
  namespace optim = torch::optim;
  if (t.optimizer == "sgd")
    return with_decay_groups<optim::SGD>(
        task, optim::SGDOptions(t.lr).momentum(t.momentum).weight_decay(t.weight_decay));
  if (t.optimizer == "adamw")
    return with_decay_groups<optim::AdamW>(task, optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
  throw std::invalid_argument(t.optimizer + ": unknown train.optimizer (adamw | sgd)");
}

std::string optimizer_kind(const torch::optim::Optimizer& opt) {
  if (dynamic_cast<const torch::optim::AdamW*>(&opt)) return "adamw";
  if (dynamic_cast<const torch::optim::SGD*>(&opt)) return "sgd";
  throw std::invalid_argument("optimizer state: only AdamW and SGD are supported");
}

OptimizerState save_optimizer_state(torch::optim::Optimizer& opt, const NamedTensors& params) {
  const std::string kind = optimizer_kind(opt);
  OptimizerState out;
  out.metadata["optimizer"] = kind;
  for (const auto& [n, p] : params) {
    auto it = opt.state().find(p.unsafeGetTensorImpl());
    if (it == opt.state().end()) continue;
    if (kind == "adamw") {
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      out.tensors.emplace_back("exp_avg/" + n, s.exp_avg());
      out.tensors.emplace_back("exp_avg_sq/" + n, s.exp_avg_sq());
      out.metadata["step/" + n] = std::to_string(s.step());
    } else {
      auto& s = static_cast<torch::optim::SGDParamState&>(*it->second);
      if (s.momentum_buffer().defined()) out.tensors.emplace_back("momentum_buffer/" + n, s.momentum_buffer());
    }
  }
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& opt, const NamedTensors& params, const OptimizerState& saved,
                          const std::string& file) {
  const std::string kind = optimizer_kind(opt);
  auto k = saved.metadata.find("optimizer");
  const std::string saved_kind = k == saved.metadata.end() ? "adamw" : k->second;  // older checkpoints: AdamW
  if (saved_kind != kind)
    throw std::runtime_error(file + ": optimizer state of '" + saved_kind + "', but this run's train.optimizer is '" +
                             kind + "' (resume with the optimizer the checkpoint was trained with)");
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [n, t] : saved.tensors) by_name[n] = &t;
  for (const auto& [n, p] : params) {
    opt.state().erase(p.unsafeGetTensorImpl());
    if (kind == "adamw") {
      const auto* exp_avg = find_state(by_name, "exp_avg/", n, p, file);
      const auto* exp_avg_sq = find_state(by_name, "exp_avg_sq/", n, p, file);
      if (!exp_avg || !exp_avg_sq) continue;  // no step taken for it yet
      auto step = saved.metadata.find("step/" + n);
      if (step == saved.metadata.end()) throw std::runtime_error(file + ": no AdamW step count 'step/" + n + "'");
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->step(std::stoll(step->second));
      st->exp_avg(own_copy(*exp_avg, p.device()));
      st->exp_avg_sq(own_copy(*exp_avg_sq, p.device()));
      opt.state()[p.unsafeGetTensorImpl()] = std::move(st);
    } else {
      const auto* buf = find_state(by_name, "momentum_buffer/", n, p, file);
      if (!buf) continue;  // no step taken for it yet (or momentum 0)
      auto st = std::make_unique<torch::optim::SGDParamState>();
      st->momentum_buffer(own_copy(*buf, p.device()));
      opt.state()[p.unsafeGetTensorImpl()] = std::move(st);
    }
  }
}

}  // namespace rpct
