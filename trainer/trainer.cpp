#include "trainer/trainer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "core/ftz.h"
#include "datasets/data_factory.h"
#include "datasets/sampler.h"
#include "distributed/grad_sync.h"
#include "core/log.h"
#include "trainer/lr_schedule.h"
#include "trainer/metrics.h"
#include "trainer/run_dir.h"
#include "trainer/safetensors.h"
#include "trainer/checkpoint.h"

namespace rpct {

void configure_runtime(const Config& cfg, const DistContext& dist) {
  int threads = cfg.train.threads;
  if (threads == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, dist.local_size()));
  }
  torch::set_num_threads(threads);
  set_flush_denormal_all_threads(cfg.train.flush_denormal);
  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(ViT& model, const TrainConfig& t) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) {
    const auto& name = p.key();
    const bool skip = p.value().dim() <= 1 || name.find("cls_token") != std::string::npos ||
                      name.find("pos_embed") != std::string::npos;
    (skip ? no_decay : decay).push_back(p.value());
  }
  auto opts = torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(t.lr).weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(std::move(groups), opts);
}

torch::Device pick_device(const Config& cfg, const DistContext& dist) {
  const auto& d = cfg.train.device;
  if (d == "cpu" || (d == "auto" && !torch::cuda::is_available())) return torch::kCPU;
  TORCH_CHECK(torch::cuda::is_available(), "train.device is 'cuda' but no CUDA device is available");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dist.local_rank() % torch::cuda::device_count()));
}

// Test hook for fault tolerance: RPCT_FAULT="hang:RANK:STEP" makes that rank stop responding at
// that step, "exit:RANK:STEP" makes it exit(17) there. Parsed once; ignored when unset.
static void maybe_inject_fault(int rank, int64_t step) {
  static const auto spec = [] {
    struct F {
      std::string kind;
      int rank = -1;
      int64_t step = -1;
    } f;
    if (const char* e = std::getenv("RPCT_FAULT")) {
      std::string s(e);
      auto a = s.find(':'), b = s.rfind(':');
      if (a != std::string::npos && b != a) {
        f.kind = s.substr(0, a);
        f.rank = std::stoi(s.substr(a + 1, b - a - 1));
        f.step = std::stoll(s.substr(b + 1));
      }
    }
    return f;
  }();
  if (spec.rank != rank || spec.step != step) return;
  std::fprintf(stderr, "rank %d: RPCT_FAULT %s at step %lld\n", rank, spec.kind.c_str(), static_cast<long long>(step));
  std::fflush(stderr);
  if (spec.kind == "exit") std::_Exit(17);
  if (spec.kind == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

// Test hook: RPCT_SAMPLE_LOG=PREFIX appends "epoch step idx..." per micro-batch to PREFIX.rank<R>,
// so tests can check that every sample of an epoch is seen exactly once across a resume.
static void trace_samples(int rank, int64_t epoch, int64_t step, const std::vector<int64_t>& idx) {
  static const char* prefix = std::getenv("RPCT_SAMPLE_LOG");
  if (!prefix) return;
  std::ofstream out(std::string(prefix) + ".rank" + std::to_string(rank), std::ios::app);
  out << epoch << " " << step;
  for (auto i : idx) out << " " << i;
  out << "\n";
}

static void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

static torch::Tensor loss_fn(const torch::Tensor& logits, const torch::Tensor& y, double smoothing) {
  return torch::nn::functional::cross_entropy(
      logits, y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(smoothing));
}

double train_step(ViT& model, torch::optim::Optimizer& opt, const torch::Tensor& x, const torch::Tensor& y,
                  const TrainConfig& t) {
  model->train();
  opt.zero_grad();
  auto loss = loss_fn(model->forward(x), y, t.label_smoothing);
  loss.backward();
  if (t.clip_grad > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), t.clip_grad);
  opt.step();
  return loss.item<double>();
}

EvalResult evaluate(ViT& model, BatchSource& set, const Config& cfg, const DistContext& dist) {
  torch::NoGradGuard no_grad;
  model->eval();
  auto [begin, end] = eval_shard(set.size(), dist.world_size(), dist.rank());
  double loss_sum = 0, c1 = 0, c5 = 0;
  const int64_t k = std::min<int64_t>(5, cfg.model.num_classes);
  const auto device = model->parameters().front().device();
  for (int64_t s = begin; s < end; s += cfg.train.eval_batch_size) {
    const int64_t e = std::min<int64_t>(end, s + cfg.train.eval_batch_size);
    std::vector<int64_t> idx(e - s);
    std::iota(idx.begin(), idx.end(), s);
    auto b = set.make_batch(0, idx);
    auto y = b.y.to(device);
    auto logits = model->forward(b.x.to(device));
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    auto topk = std::get<1>(logits.topk(k, 1));  // (B, k)
    auto hit = topk.eq(y.unsqueeze(1));
    c1 += hit.select(1, 0).sum().item<double>();
    c5 += hit.any(1).sum().item<double>();
  }
  auto tot = dist.allreduce_sum(std::vector<double>{loss_sum, c1, c5, static_cast<double>(end - begin)});
  EvalResult r;
  r.samples = static_cast<int64_t>(tot[3]);
  r.loss = tot[0] / std::max(1.0, tot[3]);
  r.top1 = tot[1] / std::max(1.0, tot[3]);
  r.top5 = tot[2] / std::max(1.0, tot[3]);
  return r;
}

TrainResult train(const Config& cfg, DistContext& dist, const std::string& run_dir, const std::string& resume) {
  const auto& t = cfg.train;
  configure_runtime(cfg, dist);
  const bool root = dist.is_root();
  TORCH_CHECK(cfg.data.kind != "ade20k", cfg.source, ": data.kind 'ade20k' is a segmentation set; training it needs ",
              "the Segmenter model, which rpctrain does not have yet (the ADE20K input pipeline is ready)");
  auto train_set = make_batch_source(cfg, /*train=*/true);
  auto test_set = make_batch_source(cfg, /*train=*/false);
  DataLoader loader(train_set, cfg.data.workers, cfg.data.prefetch);

  const torch::Device device = pick_device(cfg, dist);
  ViT model(cfg);
  model->to(device);
  auto opt = make_optimizer(model, t);
  NamedTensors params, buffers;
  for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
  for (const auto& b : model->named_buffers()) buffers.emplace_back(b.key(), b.value());
  GradSync sync(params, dist, dist.world_size() > 1 ? make_backend(dist, device) : nullptr,
                GradSyncOptions{cfg.dist.first_bucket_mb, cfg.dist.bucket_mb, cfg.dist.timeout_s,
                                /*prescaled_loss=*/true});
  sync.check_fingerprint(to_yaml(cfg));
  {
    std::vector<torch::Tensor> state;
    for (const auto& p : params) state.push_back(p.second);
    for (const auto& b : buffers) state.push_back(b.second);
    sync.broadcast_from_root(state);
  }
  std::vector<torch::Tensor> ema;  // EMA of the parameters (train.ema > 0)
  if (t.ema > 0)
    for (const auto& p : params) ema.push_back(p.second.detach().clone());

  Checkpointer ckpt(run_dir, cfg, dist);
  TrainState st;
  if (!resume.empty()) {
    if (auto loaded = ckpt.load(resume, params, buffers, ema, *opt)) {
      st = loaded->state;
      if (root)
        log_info("resumed from %s: step %lld, epoch %lld, position %lld (saved by %d ranks, now %d)",
                 loaded->dir.c_str(), static_cast<long long>(st.step), static_cast<long long>(st.epoch + 1),
                 static_cast<long long>(st.epoch_pos), loaded->world_size, dist.world_size());
    } else if (root) {
      log_info("resume %s: no complete checkpoint under %s; starting from scratch", resume.c_str(),
               ckpt.ckpt_root().c_str());
    }
  }

  const int64_t n_params = [&] {
    int64_t n = 0;
    for (const auto& p : params) n += p.second.numel();
    return n;
  }();
  DistributedSampler sampler(train_set->size(), t.batch_size, dist.world_size(), dist.rank(),
                             static_cast<uint64_t>(t.seed), /*shuffle=*/true, cfg.data.repeated_aug);
  const int64_t n_train = train_set->size();
  const int64_t per_step = sampler.global_batch() * t.accum_steps;  // samples per optimizer step
  const int64_t steps_per_epoch = n_train / per_step;
  TORCH_CHECK(steps_per_epoch > 0, "train: one optimizer step needs ", per_step, " samples (ranks x batch x accum), ",
              "the training set has ", n_train);

  JsonlWriter metrics;
  if (root) {
    log_info("model: ViT %s dim %d depth %d heads %d patch %d tokens %lld attention %s (%lld params) on %s",
             cfg.model.arch.c_str(), cfg.model.dim, cfg.model.depth, cfg.model.heads, cfg.model.patch,
             static_cast<long long>(model->num_tokens()), cfg.attention.kind.c_str(), static_cast<long long>(n_params),
             device.str().c_str());
    if (sync.active())
      log_info("dist: %d ranks, backend %s, %lld gradient buckets (first %.2f MB), watchdog %.0f s", dist.world_size(),
               sync.backend()->name().c_str(), static_cast<long long>(sync.num_buckets()),
               sync.bucket_bytes().front() / 1048576.0, cfg.dist.timeout_s);
    log_info("data: %lld train / %lld test images; %d ranks x batch %d x accum %d; %lld steps/epoch; threads %d",
             static_cast<long long>(n_train), static_cast<long long>(test_set->size()), dist.world_size(), t.batch_size,
             t.accum_steps, static_cast<long long>(steps_per_epoch), torch::get_num_threads());
    metrics = JsonlWriter(run_dir + "/metrics.jsonl");
  }
  auto save_checkpoint = [&] {
    const auto dir = ckpt.save(params, buffers, ema, *opt, st);
    if (root) log_info("checkpoint %s", dir.c_str());
  };

  TrainResult result;
  result.run_dir = run_dir;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t images = 0;
  double train_seconds = 0;
  for (; st.epoch < t.epochs; ++st.epoch, st.epoch_pos = 0, st.epoch_steps = 0, st.epoch_loss_sum = 0) {
    model->train();
    const int64_t epoch = st.epoch;
    const int64_t steps_left = (n_train - st.epoch_pos) / per_step;
    {  // this rank's micro-batches for the rest of the epoch, in order, to the loader's workers
      std::vector<std::vector<int64_t>> micro;
      for (int64_t s = 0; s < steps_left; ++s)
        for (int a = 0; a < t.accum_steps; ++a)
          micro.push_back(sampler.batch_at(epoch, st.epoch_pos + s * per_step + a * sampler.global_batch()));
      loader.start_epoch(epoch, std::move(micro));
    }
    int64_t skipped = 0;
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(t.epochs), steps_left, root);
    const auto epoch_t0 = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < steps_left; ++s) {
      maybe_inject_fault(dist.rank(), st.step);
      const double lr = lr_at(t, epoch + static_cast<double>(st.epoch_pos) / n_train);
      set_lr(*opt, lr);
      sync.zero_grad();  // in place: .grad are views into GradSync's buckets
      sync.set_step(st.step);
      double step_loss = 0;
      for (int a = 0; a < t.accum_steps; ++a) {
        Batch b = loader.next();
        trace_samples(dist.rank(), epoch, st.step, b.indices);
        skipped += b.skipped;
        sync.set_sync(a == t.accum_steps - 1);  // no_sync for all but the last micro-batch
        auto logits = model->forward(b.x.to(device, /*non_blocking=*/true));
        // Mixup/CutMix give soft targets (label smoothing already folded in); else hard labels.
        auto loss = (b.y_soft.defined()
                         ? -(b.y_soft.to(device) * torch::log_softmax(logits, 1)).sum(1).mean()
                         : loss_fn(logits, b.y.to(device), t.label_smoothing)) /
                    t.accum_steps;
        (loss * sync.loss_scale()).backward();  // 1/world: gradients arrive averaged over ranks
        step_loss += loss.item<double>();
      }
      sync.finish();
      if (t.clip_grad > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), t.clip_grad);
      opt->step();
      if (!ema.empty()) {
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < ema.size(); ++i) ema[i].mul_(t.ema).add_(params[i].second.detach(), 1.0 - t.ema);
      }
      ++st.step;
      ++st.epoch_steps;
      st.epoch_pos += per_step;
      st.epoch_loss_sum += step_loss;
      images += per_step;
      progress.update(s + 1, (s + 1) * per_step, step_loss, lr, t.log_every);
      if (root && st.step % t.log_every == 0)
        metrics.write({{"kind", "step"}, {"step", st.step}, {"epoch", epoch + 1}, {"loss", step_loss}, {"lr", lr}});
      if (cfg.ckpt.every_steps > 0 && st.step % cfg.ckpt.every_steps == 0 && st.epoch_pos + per_step <= n_train)
        save_checkpoint();
    }
    progress.finish();
    train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_t0).count();
    double train_loss = 0;
    {
      Watchdog::Scope guard(sync.watchdog(), "metrics reduction after epoch " + std::to_string(epoch + 1));
      train_loss = dist.allreduce_sum(st.epoch_loss_sum) / dist.world_size() / std::max<int64_t>(1, st.epoch_steps);
    }
    auto ev = evaluate(model, *test_set, cfg, dist);
    const double skipped_all = dist.allreduce_sum(static_cast<double>(skipped));
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.eval = ev;
    result.train_loss = train_loss;
    result.epochs = static_cast<int>(epoch + 1);
    result.steps = st.step;
    result.seconds = elapsed;
    result.images_per_s = train_seconds > 0 ? images / train_seconds : 0;
    if (ev.top1 > st.best_top1) {
      st.best_top1 = ev.top1;
      st.best_step = st.step;
    }
    if (root) {
      const auto ls = loader.stats();
      log_info("epoch %lld/%d: train loss %.4f | test loss %.4f top1 %.2f%% top5 %.2f%% | %.0f img/s | loader %.0f "
               "img/s per worker, waited %.1f s, %.0f bad samples skipped | %s",
               static_cast<long long>(epoch + 1), t.epochs, train_loss, ev.loss, 100 * ev.top1, 100 * ev.top5,
               result.images_per_s, ls.images_per_worker_second(), ls.wait_seconds, skipped_all,
               format_duration(elapsed).c_str());
      metrics.write({{"kind", "epoch"}, {"epoch", epoch + 1}, {"step", st.step}, {"train_loss", train_loss},
                     {"test_loss", ev.loss}, {"top1", ev.top1}, {"top5", ev.top5},
                     {"lr", lr_at(t, static_cast<double>(epoch + 1))}, {"images_per_s", result.images_per_s},
                     {"skipped_samples", skipped_all}, {"elapsed_s", elapsed}});
    }
    if (cfg.ckpt.epoch_end) {
      TrainState next = st;  // the state at the start of the next epoch
      st.epoch += 1;
      st.epoch_pos = 0;
      st.epoch_steps = 0;
      st.epoch_loss_sum = 0;
      save_checkpoint();
      st = next;
    }
  }
  result.params_sha256 = params_sha256(params);
  if (root) {
    NamedTensors weights = params;
    for (const auto& b : buffers) weights.push_back(b);
    write_safetensors(run_dir + "/model.safetensors", weights, {{"format", "rpctrain"}});
  }
  return result;
}

}  // namespace rpct
