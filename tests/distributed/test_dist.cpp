// Run under `mpirun -np 2` (label mpi). Checks the MPI backend, GradSync and start-up checks.
#include <gtest/gtest.h>

#include "datasets/fashion_mnist.h"
#include "datasets/sampler.h"
#include "distributed/backend.h"
#include "distributed/grad_sync.h"
#include "trainer/trainer.h"

namespace {

rpct::DistContext& dist() { return rpct::DistContext::get(); }

#define REQUIRE_TWO_RANKS() \
  if (dist().world_size() != 2) GTEST_SKIP() << "run under mpirun -np 2 (world size " << dist().world_size() << ")"

std::vector<std::pair<std::string, torch::Tensor>> named(rpct::ViT& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

rpct::GradSync make_sync(rpct::ViT& m, double first_mb = 0.01, double mb = 0.05, bool prescaled_loss = false) {
  return rpct::GradSync(named(m), dist(), rpct::make_mpi_backend(dist()),
                        rpct::GradSyncOptions{first_mb, mb, 60.0, prescaled_loss});
}

rpct::Config tiny_config() {
  return rpct::parse_config(
      "model: {patch: 7, dim: 32, depth: 2, heads: 2, drop_path: 0.0, dropout: 0.0}\n"
      "train: {lr: 2.0e-3, clip_grad: 1.0, label_smoothing: 0.1}\n",
      "tiny.yaml");
}

}  // namespace

TEST(MpiBackend, AllReduceMatchesClosedForm) {
  REQUIRE_TWO_RANKS();
  auto backend = rpct::make_mpi_backend(dist());
  const int W = dist().world_size();
  const double expected = W * (W + 1) / 2.0;  // rank r contributes r + 1
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32}) {
    for (int64_t n : {1, 7, 1000, 262147, 3 * 1048576 + 5}) {
      auto buf = torch::full({n}, dist().rank() + 1, torch::TensorOptions().dtype(dtype));
      backend->allreduce_sum_async(buf)->wait();
      EXPECT_TRUE(buf.eq(expected).all().item<bool>()) << "dtype " << dtype << " n " << n;
      auto buf2 = torch::full({n}, dist().rank() + 1, torch::TensorOptions().dtype(dtype));
      backend->allreduce_sum(buf2);
      EXPECT_TRUE(buf2.eq(expected).all().item<bool>()) << "blocking, dtype " << dtype << " n " << n;
    }
  }
}

TEST(GradSync, BucketsCoverEveryParameterOnce) {
  REQUIRE_TWO_RANKS();
  torch::manual_seed(0);
  rpct::ViT m(tiny_config());
  auto sync = make_sync(m, 0.01, 0.05);
  int64_t total = 0;
  for (const auto& p : m->parameters()) total += p.numel() * 4;
  const auto bytes = sync.bucket_bytes();
  EXPECT_GT(sync.num_buckets(), 2);  // small caps force several buckets
  EXPECT_EQ(std::accumulate(bytes.begin(), bytes.end(), int64_t{0}), total);
}

// The trainer's way: .grad are views into the buckets, so autograd writes gradients straight into them
// (no copy), and the post-accumulate-grad hooks launch every bucket's all-reduce during backward. After
// an optimizer zero_grad (set_to_none) the gradients land elsewhere; GradSync copies them back in.
TEST(GradSync, GradientsLandInBucketsAndLaunchDuringBackward) {
  REQUIRE_TWO_RANKS();
  torch::manual_seed(0);
  rpct::ViT m(tiny_config());
  auto sync = make_sync(m, 0.01, 0.05, /*prescaled_loss=*/true);
  ASSERT_GT(sync.num_buckets(), 2);
  auto opt = rpct::make_optimizer(m, tiny_config().train);
  auto x = torch::randn({4, 1, 28, 28}), y = torch::tensor({0, 1, 2, 3});
  auto params = m->parameters();
  std::vector<void*> slots;
  sync.zero_grad();
  for (const auto& p : params) slots.push_back(p.grad().data_ptr());
  for (const bool set_to_none : {false, true}) {
    SCOPED_TRACE(set_to_none ? "after optimizer zero_grad (set_to_none)" : "after GradSync::zero_grad");
    if (set_to_none) opt->zero_grad();
    else sync.zero_grad();
    (torch::nn::functional::cross_entropy(m->forward(x), y) * sync.loss_scale()).backward();
    EXPECT_EQ(sync.num_launched(), sync.num_buckets()) << "the hooks launched every bucket during backward";
    sync.finish();
    for (size_t i = 0; i < params.size(); ++i) {
      ASSERT_TRUE(params[i].grad().defined()) << i;
      EXPECT_EQ(params[i].grad().data_ptr(), slots[i]) << "param " << i << " .grad is not its bucket slot";
    }
  }
}

TEST(GradSync, BroadcastMakesEveryRankEqualToRoot) {
  REQUIRE_TWO_RANKS();
  torch::manual_seed(100 + dist().rank());  // different init per rank
  rpct::ViT m(tiny_config());
  auto sync = make_sync(m);
  auto params = m->parameters();
  sync.broadcast_from_root(params);
  torch::manual_seed(100);  // what rank 0 initialized
  rpct::ViT ref(tiny_config());
  auto rp = ref->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(params[i].equal(rp[i])) << i;
}

// k steps with 2 ranks x batch b (GradSync) == k steps with 1 rank x batch 2b, and the same with
// gradient accumulation (2 micro-batches of b/2 with no_sync on the first).
TEST(GradSync, TwoRanksEqualOneRankWithDoubleBatch) {
  REQUIRE_TWO_RANKS();
  torch::set_num_threads(1);
  auto cfg = tiny_config();
  auto data = rpct::load_fashion_mnist(cfg.data.root, "train", 2048);
  const int64_t b = 32, steps = 4;
  // Two ways to use GradSync: as the trainer does (sync.zero_grad() in place, .grad are bucket views, the
  // loss pre-scaled by 1/world), and as a plain LibTorch loop would (optimizer zero_grad = set_to_none,
  // GradSync copies each gradient into its bucket and averages).
  const std::pair<bool, int> modes[] = {{true, 1}, {true, 2}, {false, 1}, {false, 2}};  // (trainer_mode, accum)
  for (const auto& [trainer_mode, accum] : modes) {
    SCOPED_TRACE(std::string(trainer_mode ? "bucket views, prescaled loss" : "set_to_none, averaging copy") +
                 ", accum " + std::to_string(accum));
    torch::manual_seed(7);
    rpct::ViT dp(cfg);
    torch::manual_seed(7);
    rpct::ViT single(cfg);
    auto sync = make_sync(dp, 0.01, 0.05, trainer_mode);
    auto opt_dp = rpct::make_optimizer(dp, cfg.train);
    auto opt_single = rpct::make_optimizer(single, cfg.train);
    rpct::DistributedSampler shard(data.size(), b, 2, dist().rank(), 3), whole(data.size(), 2 * b, 1, 0, 3);
    for (int64_t s = 0; s < steps; ++s) {
      // Data-parallel: this rank's b samples, in `accum` micro-batches.
      auto idx = shard.batch(0, s);
      if (trainer_mode)
        sync.zero_grad();
      else
        opt_dp->zero_grad();
      for (int a = 0; a < accum; ++a) {
        std::vector<int64_t> part(idx.begin() + a * b / accum, idx.begin() + (a + 1) * b / accum);
        auto [x, y] = rpct::make_batch(data, part, false, 0, 0);
        sync.set_sync(a == accum - 1);
        (torch::nn::functional::cross_entropy(dp->forward(x), y,
                                              torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(0.1)) /
         accum * sync.loss_scale())
            .backward();
      }
      sync.finish();
      torch::nn::utils::clip_grad_norm_(dp->parameters(), cfg.train.clip_grad);
      opt_dp->step();
      // Reference: one process, the whole global batch.
      auto [x, y] = rpct::make_batch(data, whole.batch(0, s), false, 0, 0);
      rpct::train_step(single, *opt_single, x, y, cfg.train);
    }
    // float32 reductions summed in another order (per-rank means, then averaged) differ from the
    // single-batch mean by rounding only; after 4 Adam steps of lr 2e-3 that stays below 1e-5.
    constexpr double kParamTol = 1e-5;
    auto a = dp->parameters(), c = single->parameters();
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::allclose(a[i], c[i], kParamTol, kParamTol))
          << "accum " << accum << " param " << i << " max diff " << (a[i] - c[i]).abs().max().item<double>();
  }
}

TEST(GradSync, ConfigMismatchIsAClearErrorOnEveryRank) {
  REQUIRE_TWO_RANKS();
  rpct::ViT m(tiny_config());
  auto sync = make_sync(m);
  EXPECT_NO_THROW(sync.check_fingerprint("same config"));
  try {
    sync.check_fingerprint(dist().rank() == 1 ? "train: {lr: 2}" : "train: {lr: 1}");
    FAIL() << "expected a mismatch error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("config of rank(s) 1 differs from rank 0"), std::string::npos) << msg;
  }
}
