#include "distributed/grad_sync.h"

#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <cmath>
#include <functional>
#include <sstream>

namespace rpct {
namespace {

// Runs after AccumulateGrad has updated a parameter's .grad (LibTorch's post-accumulate-grad hook, the
// C++ side of Tensor.register_post_accumulate_grad_hook). One per parameter, owned by GradSync.
struct PostAccumulateHook final : torch::autograd::PostAccumulateGradHook {
  explicit PostAccumulateHook(std::function<void()> fn) : fn_(std::move(fn)) {}
  void operator()(const torch::autograd::Variable& /*param*/) override { fn_(); }

 private:
  std::function<void()> fn_;
};

}  // namespace

uint64_t fnv1a64(const std::string& s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

GradSync::GradSync(std::vector<std::pair<std::string, torch::Tensor>> params, const DistContext& dist,
                   std::unique_ptr<CommBackend> backend, const GradSyncOptions& opt, Watchdog* watchdog)
    : GradSync(std::move(params), dist,
               backend ? BackendFactory([&backend] { return std::move(backend); }) : BackendFactory(), opt,
               watchdog) {}

GradSync::GradSync(std::vector<std::pair<std::string, torch::Tensor>> params, const DistContext& dist,
                   const BackendFactory& make_backend, const GradSyncOptions& opt, Watchdog* watchdog)
    : dist_(dist), opt_(opt), params_(std::move(params)), watchdog_(watchdog) {
  if (!make_backend) return;
  {
    Watchdog::Scope guard(watchdog_, "communicator init (collective backend set-up, all ranks)", "communicator init");
    backend_ = make_backend();
  }
  TORCH_CHECK(backend_, "rank ", dist_.rank(), ": GradSync: the backend factory returned no backend");
  // A collective stuck past the timeout: the backend gives its communicator back before the job aborts.
  if (watchdog_) watchdog_->set_on_timeout([backend = backend_.get()] { backend->abort(); });
  inv_world_ = torch::scalar_tensor(1.0 / dist_.world_size(), torch::kFloat64);
  // Reverse registration order approximates the order in which backward produces gradients.
  where_.assign(params_.size(), {-1, -1});
  int64_t cap = static_cast<int64_t>(opt_.first_bucket_mb * 1024 * 1024);
  std::vector<int64_t> sizes;  // bytes per bucket while assigning
  for (int64_t i = static_cast<int64_t>(params_.size()) - 1; i >= 0; --i) {
    const auto& p = params_[i].second;
    if (!p.requires_grad()) continue;
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const bool new_bucket = buckets_.empty() || sizes.back() + bytes > cap ||
                            params_[buckets_.back().slots.back().param].second.scalar_type() != p.scalar_type() ||
                            params_[buckets_.back().slots.back().param].second.device() != p.device();
    if (new_bucket && !buckets_.empty() && !buckets_.back().slots.empty()) {
      cap = static_cast<int64_t>(opt_.bucket_mb * 1024 * 1024);  // buckets after the first
    }
    if (new_bucket) {
      buckets_.emplace_back();
      sizes.push_back(0);
    }
    auto& b = buckets_.back();
    const int64_t offset = b.slots.empty() ? 0 : b.slots.back().offset + b.slots.back().numel;
    where_[i] = {static_cast<int64_t>(buckets_.size()) - 1, static_cast<int64_t>(b.slots.size())};
    b.slots.push_back({i, offset, p.numel()});
    sizes.back() += bytes;
  }
  for (auto& b : buckets_) {
    const auto& p0 = params_[b.slots.front().param].second;
    const bool vote_slot = opt_.carry_votes && &b == &buckets_.back();  // the bucket launched last
    const int64_t n = b.slots.back().offset + b.slots.back().numel + (vote_slot ? 1 : 0);
    b.buffer = torch::zeros({n}, p0.options().requires_grad(false));
  }
  ready_.assign(params_.size(), false);
  reset_round();
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < static_cast<int64_t>(params_.size()); ++i) {
    if (where_[i].first < 0) continue;
    auto& p = params_[i].second;
    TORCH_CHECK(p.is_contiguous(), "GradSync: parameter ", params_[i].first, " is not contiguous");
    p.mutable_grad() = slot_view(i);
    torch::autograd::impl::set_post_acc_grad_hooks(p, std::make_unique<PostAccumulateHook>([this, i] {
      on_grad_ready(i);
    }));
  }
}

GradSync::~GradSync() {
  if (watchdog_ && backend_) watchdog_->set_on_timeout(nullptr);  // the backend goes with this GradSync
  for (int64_t i = 0; i < static_cast<int64_t>(where_.size()); ++i)
    if (where_[i].first >= 0) torch::autograd::impl::set_post_acc_grad_hooks(params_[i].second, nullptr);
}

// The slot as a parameter-shaped tensor sharing the bucket's memory. Made with set_ rather than as an
// autograd view (narrow().view()), so that optimizers' zero_grad(set_to_none=false), which detach_()es
// .grad, accept it.
torch::Tensor GradSync::slot_view(int64_t param) const {
  const auto& b = buckets_[where_[param].first];
  const auto& s = b.slots[where_[param].second];
  const auto& p = params_[param].second;
  auto g = torch::empty({0}, b.buffer.options());
  g.set_(b.buffer.storage(), b.buffer.storage_offset() + s.offset, p.sizes(), p.strides());
  return g;
}

bool GradSync::grad_is_slot_view(int64_t param) const {
  const auto& g = params_[param].second.grad();
  const auto& b = buckets_[where_[param].first];
  const auto& s = b.slots[where_[param].second];
  return g.defined() && g.is_contiguous() &&
         g.data_ptr() == static_cast<void*>(static_cast<char*>(b.buffer.data_ptr()) + s.offset * b.buffer.element_size());
}

double GradSync::loss_scale() const { return backend_ && opt_.prescaled_loss ? 1.0 / dist_.world_size() : 1.0; }

void GradSync::zero_grad() {
  torch::NoGradGuard no_grad;
  if (!backend_) {
    for (auto& [name, p] : params_) p.mutable_grad() = torch::Tensor();
    return;
  }
  for (auto& b : buckets_) b.buffer.zero_();
  for (int64_t i = 0; i < static_cast<int64_t>(params_.size()); ++i)
    if (where_[i].first >= 0 && !grad_is_slot_view(i)) params_[i].second.mutable_grad() = slot_view(i);
}

std::vector<int64_t> GradSync::bucket_bytes() const {
  std::vector<int64_t> out;
  for (const auto& b : buckets_) out.push_back(b.buffer.nbytes());
  return out;
}

void GradSync::reset_round() {
  std::fill(ready_.begin(), ready_.end(), false);
  for (auto& b : buckets_) {
    b.pending = static_cast<int64_t>(b.slots.size());
    b.work.reset();
  }
  next_launch_ = 0;
}

void GradSync::gather_into_slot(int64_t param) {
  auto& p = params_[param].second;
  if (grad_is_slot_view(param)) {
    if (!opt_.prescaled_loss) p.mutable_grad().mul_(inv_world_);  // just accumulated: in cache
    return;
  }
  // .grad was replaced (set_to_none, or a caller's tensor): copy it in, or zeros for an unused parameter.
  auto dst = slot_view(param);
  const auto& g = p.grad();
  if (!g.defined())
    dst.zero_();
  else if (opt_.prescaled_loss)
    dst.copy_(g);
  else
    torch::mul_out(dst, g, inv_world_);
  p.mutable_grad() = dst;
}

void GradSync::on_grad_ready(int64_t param) {
  if (!sync_ || ready_[param]) return;
  torch::NoGradGuard no_grad;
  gather_into_slot(param);
  ready_[param] = true;
  auto& b = buckets_[where_[param].first];
  if (--b.pending == 0 && opt_.overlap) launch_ready_in_order();
  // Poke progress of in-flight collectives (MPI progresses only inside MPI calls).
  for (int64_t k = 0; k < next_launch_; ++k)
    if (buckets_[k].work) buckets_[k].work->test();
}

void GradSync::launch_ready_in_order() {
  while (next_launch_ < num_buckets() && buckets_[next_launch_].pending == 0) {
    auto& b = buckets_[next_launch_];
    if (opt_.carry_votes && next_launch_ == num_buckets() - 1)  // the vote as late as possible: at the last launch
      b.buffer.narrow(0, b.buffer.numel() - 1, 1).fill_(vote_source_ && vote_source_() ? 1 : 0);
    b.seq = arrive("bucket " + std::to_string(next_launch_) + " of step " + std::to_string(step_));
    b.work = backend_->allreduce_sum_async(b.buffer);
    ++next_launch_;
  }
}

void GradSync::finish() {
  if (!backend_ || !sync_) return;
  torch::NoGradGuard no_grad;
  // Parameters whose gradient did not arrive in this backward (unused, or accumulated only in no_sync
  // micro-batches): their slots get what .grad holds.
  for (int64_t bi = 0; bi < num_buckets(); ++bi) {
    auto& b = buckets_[bi];
    for (const auto& s : b.slots) {
      if (ready_[s.param]) continue;
      gather_into_slot(s.param);
      ready_[s.param] = true;
      --b.pending;
    }
  }
  launch_ready_in_order();
  for (int64_t bi = 0; bi < num_buckets(); ++bi) {
    auto& b = buckets_[bi];
    {
      std::ostringstream what;
      what << "all-reduce of bucket " << bi << "/" << num_buckets() << " (" << b.slots.size() << " params, "
           << b.buffer.nbytes() << " bytes) at step " << step_;
      Watchdog::Scope guard(watchdog_, what.str(), b.seq);
      b.work->wait();
    }
  }
  if (opt_.carry_votes && !buckets_.empty()) read_votes(buckets_.back().buffer);
  reset_round();
}

// The vote sum of the round just finished (the last element of `last_bucket`): read at once on the CPU; on a
// device, copied to pinned memory behind the all-reduce, and the previous round's copy is read instead.
void GradSync::read_votes(const torch::Tensor& last_bucket) {
  const torch::Tensor sum = last_bucket.narrow(0, last_bucket.numel() - 1, 1);  // (1,)
  if (sum.is_cpu()) {
    votes_ = std::llround(sum.item<double>());
    return;
  }
  const c10::Device device = sum.device();
  votes_ = 0;
  if (votes_copied_) {
    votes_copied_->synchronize();  // a step old: done unless the host runs a whole step ahead of the device
    votes_ = std::llround(votes_host_.item<double>());
  } else {
    votes_host_ = torch::empty({1}, torch::TensorOptions().dtype(sum.scalar_type()).pinned_memory(true));
    votes_copied_.emplace(device.type());
  }
  votes_host_.copy_(sum, /*non_blocking=*/true);
  votes_copied_->record(c10::impl::VirtualGuardImpl(device.type()).getStream(device));
}

int64_t GradSync::votes() {
  if (!backend_) return vote_source_ && vote_source_() ? 1 : 0;
  return votes_;
}

void GradSync::broadcast_from_root(const std::vector<torch::Tensor>& tensors) {
  if (!backend_) return;
  torch::NoGradGuard no_grad;
  Watchdog::Scope guard(watchdog_, "start-up broadcast of rank 0's " + std::to_string(tensors.size()) +
                                             " parameter and buffer tensors",
                        "start-up broadcast");
  for (const auto& t : tensors) {
    if (t.is_contiguous()) {
      backend_->broadcast(t, 0);
    } else {
      auto tmp = t.contiguous();
      backend_->broadcast(tmp, 0);
      t.copy_(tmp);
    }
  }
}

void GradSync::check_fingerprint(const DistContext& dist, const std::string& config_text,
                                 const std::vector<std::pair<std::string, torch::Tensor>>& params) {
  std::ostringstream shapes;
  for (const auto& [name, p] : params) shapes << name << ":" << p.sizes() << ":" << p.scalar_type() << ";";
  // The device type of the parameters (cpu / cuda; not the index, which differs per rank by design).
  const c10::DeviceType device = params.empty() ? c10::DeviceType::CPU : params.front().second.device().type();
  const uint64_t cfg_fp = fnv1a64(config_text), model_fp = fnv1a64(shapes.str());
  if (dist.world_size() == 1) return;
  const auto cfgs = dist.allgather_u64(cfg_fp), models = dist.allgather_u64(model_fp);
  const auto devices = dist.allgather_u64(static_cast<uint64_t>(device));
  std::string bad_cfg, bad_model, bad_device;
  for (int r = 0; r < dist.world_size(); ++r) {
    if (cfgs[r] != cfgs[0]) bad_cfg += (bad_cfg.empty() ? "" : ", ") + std::to_string(r);
    if (models[r] != models[0]) bad_model += (bad_model.empty() ? "" : ", ") + std::to_string(r);
    if (devices[r] != devices[0])
      bad_device += (bad_device.empty() ? "" : ", ") + std::to_string(r) + " (" +
                    c10::DeviceTypeName(static_cast<c10::DeviceType>(devices[r]), /*lower_case=*/true) + ")";
  }
  if (!bad_cfg.empty() || !bad_model.empty() || !bad_device.empty()) {
    std::ostringstream msg;
    msg << "rank " << dist.rank() << ": ranks disagree at start-up:";
    if (!bad_cfg.empty()) msg << " the config of rank(s) " << bad_cfg << " differs from rank 0's;";
    if (!bad_model.empty()) msg << " the parameter names/shapes of rank(s) " << bad_model << " differ from rank 0's;";
    if (!bad_device.empty())
      msg << " rank(s) " << bad_device << " train on another device type than rank 0 ("
          << c10::DeviceTypeName(static_cast<c10::DeviceType>(devices[0]), true) << ");";
    msg << " every rank must run the same config and model";
    throw std::runtime_error(msg.str());
  }
}

}  // namespace rpct
