#include "trainer/trainer.h"

#include <algorithm>
#include <thread>

#include "datasets/sampler.h"
#include "trainer/log.h"
#include "trainer/lr_schedule.h"
#include "trainer/metrics.h"
#include "trainer/run_dir.h"

namespace rpct {

void configure_runtime(const Config& cfg, const DistContext& dist) {
  int threads = cfg.train.threads;
  if (threads == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, dist.local_size()));
  }
  torch::set_num_threads(threads);
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

EvalResult evaluate(ViT& model, const ImageSet& set, const Config& cfg, const DistContext& dist) {
  torch::NoGradGuard no_grad;
  model->eval();
  auto [begin, end] = eval_shard(set.size(), dist.world_size(), dist.rank());
  double loss_sum = 0, c1 = 0, c5 = 0;
  const int64_t k = std::min<int64_t>(5, cfg.model.num_classes);
  for (int64_t s = begin; s < end; s += cfg.train.eval_batch_size) {
    const int64_t e = std::min<int64_t>(end, s + cfg.train.eval_batch_size);
    std::vector<int64_t> idx(e - s);
    std::iota(idx.begin(), idx.end(), s);
    auto [x, y] = make_batch(set, idx, /*augment=*/false, 0, 0);
    auto logits = model->forward(x);
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

TrainResult train(const Config& cfg, DistContext& dist, const std::string& run_dir) {
  const auto& t = cfg.train;
  configure_runtime(cfg, dist);
  const bool root = dist.is_root();
  auto train_set = load_fashion_mnist(cfg.data.root, "train", cfg.data.limit_train);
  auto test_set = load_fashion_mnist(cfg.data.root, "test", cfg.data.limit_test);

  ViT model(cfg);
  auto opt = make_optimizer(model, t);
  const int64_t n_params = [&] {
    int64_t n = 0;
    for (const auto& p : model->parameters()) n += p.numel();
    return n;
  }();

  DistributedSampler sampler(train_set.size(), t.batch_size, dist.world_size(), dist.rank(),
                             static_cast<uint64_t>(t.seed));
  const int64_t micro_per_epoch = sampler.steps_per_epoch();
  const int64_t steps_per_epoch = micro_per_epoch / t.accum_steps;
  TORCH_CHECK(steps_per_epoch > 0, "train: fewer micro-batches per epoch (", micro_per_epoch,
              ") than train.accum_steps (", t.accum_steps, ")");
  const int64_t total_steps = steps_per_epoch * t.epochs;

  JsonlWriter metrics;
  if (root) {
    log_info("model: ViT %s dim %d depth %d heads %d patch %d tokens %lld attention %s (%lld params)",
             cfg.model.arch.c_str(), cfg.model.dim, cfg.model.depth, cfg.model.heads, cfg.model.patch,
             static_cast<long long>(model->num_tokens()), cfg.attention.kind.c_str(), static_cast<long long>(n_params));
    log_info("data: %lld train / %lld test images; %d ranks x batch %d x accum %d; %lld steps/epoch; threads %d",
             static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()), dist.world_size(),
             t.batch_size, t.accum_steps, static_cast<long long>(steps_per_epoch), torch::get_num_threads());
    metrics = JsonlWriter(run_dir + "/metrics.jsonl");
  }

  TrainResult result;
  result.run_dir = run_dir;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t step = 0, images = 0;
  for (int epoch = 0; epoch < t.epochs; ++epoch) {
    model->train();
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(t.epochs), steps_per_epoch, root);
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
      const double lr = lr_at(t, step, total_steps, steps_per_epoch);
      set_lr(*opt, lr);
      opt->zero_grad();
      double step_loss = 0;
      for (int a = 0; a < t.accum_steps; ++a) {
        auto idx = sampler.batch(epoch, s * t.accum_steps + a);
        auto [x, y] = make_batch(train_set, idx, cfg.data.augment, static_cast<uint64_t>(t.seed), epoch);
        auto loss = loss_fn(model->forward(x), y, t.label_smoothing) / t.accum_steps;
        loss.backward();
        step_loss += loss.item<double>();
      }
      if (t.clip_grad > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), t.clip_grad);
      opt->step();
      loss_sum += step_loss;
      images += sampler.global_batch() * t.accum_steps;
      progress.update(s + 1, (s + 1) * sampler.global_batch() * t.accum_steps, step_loss, lr, t.log_every);
    }
    progress.finish();
    const double train_loss = dist.allreduce_sum(loss_sum / steps_per_epoch) / dist.world_size();
    auto ev = evaluate(model, test_set, cfg, dist);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.eval = ev;
    result.train_loss = train_loss;
    result.epochs = epoch + 1;
    result.steps = step;
    result.seconds = elapsed;
    result.images_per_s = images / elapsed;
    if (root) {
      log_info("epoch %d/%d: train loss %.4f | test loss %.4f top1 %.2f%% top5 %.2f%% | %.0f img/s | %s", epoch + 1,
               t.epochs, train_loss, ev.loss, 100 * ev.top1, 100 * ev.top5, result.images_per_s,
               format_duration(elapsed).c_str());
      metrics.write({{"epoch", epoch + 1}, {"step", step}, {"train_loss", train_loss}, {"test_loss", ev.loss},
                     {"top1", ev.top1}, {"top5", ev.top5}, {"lr", lr_at(t, step, total_steps, steps_per_epoch)},
                     {"images_per_s", result.images_per_s}, {"elapsed_s", elapsed}});
    }
  }
  if (root) torch::save(model, run_dir + "/model.pt");
  return result;
}

}  // namespace rpct
