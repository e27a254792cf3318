// Run under `mpirun -np 2` (label mpi). Checks the MPI backend, GradSync and start-up checks.
#include <gtest/gtest.h>

#include <numeric>

#include "datasets/fashion_mnist.h"
#include "datasets/sampler.h"
#include "distributed/backend.h"
#include "distributed/grad_sync.h"
#include "trainer/classification.h"
#include "trainer/runtime.h"
#include "trainer/trainer.h"
#include "trainer/model_options.h"

namespace {

rpct::DistContext& dist() { return rpct::DistContext::get(); }

#define REQUIRE_TWO_RANKS() \
  if (dist().world_size() != 2) GTEST_SKIP() << "run under mpirun -np 2 (world size " << dist().world_size() << ")"

rpct::ViT make_vit(const rpct::Config& cfg) { return rpct::ViT(rpct::vit_options(cfg)); }

std::vector<std::pair<std::string, torch::Tensor>> named(rpct::ViT& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

rpct::GradSync make_sync(rpct::ViT& m, double first_mb = 0.01, double mb = 0.05, bool prescaled_loss = false) {
  return rpct::GradSync(named(m), dist(), rpct::make_mpi_backend(dist()),
                        rpct::GradSyncOptions{first_mb, mb, prescaled_loss});
}

rpct::Config tiny_config() {
  return rpct::parse_config(
      "model: {patch: 7, dim: 32, depth: 2, heads: 2, drop_path: 0.0, dropout: 0.0}\n"
      "train: {lr: 2.0e-3, clip_grad: 1.0, label_smoothing: 0.1}\n"
      "dist: {first_bucket_mb: 0.01, bucket_mb: 0.05}\n",  // small caps: several buckets
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
  auto m = make_vit(tiny_config());
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
  auto m = make_vit(tiny_config());
  auto sync = make_sync(m, 0.01, 0.05, /*prescaled_loss=*/true);
  ASSERT_GT(sync.num_buckets(), 2);
  torch::optim::AdamW opt(m->parameters());
  auto x = torch::randn({4, 1, 28, 28}), y = torch::tensor({0, 1, 2, 3});
  auto params = m->parameters();
  std::vector<void*> slots;
  sync.zero_grad();
  for (const auto& p : params) slots.push_back(p.grad().data_ptr());
  for (const bool set_to_none : {false, true}) {
    SCOPED_TRACE(set_to_none ? "after optimizer zero_grad (set_to_none)" : "after GradSync::zero_grad");
    if (set_to_none) opt.zero_grad();
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

// overlap = false (dist.overlap off): backward only fills the buckets; finish() launches them all, and the
// gradients are the same mean as with overlap.
TEST(GradSync, WithoutOverlapLaunchesOnlyInFinish) {
  REQUIRE_TWO_RANKS();
  auto x = torch::randn({4, 1, 28, 28}).add_(dist().rank()), y = torch::tensor({0, 1, 2, 3});
  std::vector<torch::Tensor> grads[2];
  for (const bool overlap : {true, false}) {
    SCOPED_TRACE(overlap ? "overlap" : "no overlap");
    torch::manual_seed(0);
    auto m = make_vit(tiny_config());
    rpct::GradSyncOptions opt{0.01, 0.05, /*prescaled_loss=*/true};
    opt.overlap = overlap;
    rpct::GradSync sync(named(m), dist(), rpct::make_mpi_backend(dist()), opt);
    ASSERT_GT(sync.num_buckets(), 2);
    sync.zero_grad();
    (torch::nn::functional::cross_entropy(m->forward(x), y) * sync.loss_scale()).backward();
    EXPECT_EQ(sync.num_launched(), overlap ? sync.num_buckets() : 0);
    sync.finish();
    for (const auto& p : m->parameters()) grads[overlap].push_back(p.grad().clone());
  }
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_TRUE(grads[0][i].equal(grads[1][i])) << "param " << i;
}

// carry_votes: one element more in the last bucket carries each rank's vote through the step's all-reduce; every
// rank reads the same count (the rank that voted, or both), the gradients are the same as without votes, and
// a vote is asked at each round's last launch (a later round with no vote counts 0).
TEST(GradSync, VotesRideOnTheAllReduce) {
  REQUIRE_TWO_RANKS();
  auto x = torch::randn({4, 1, 28, 28}).add_(dist().rank()), y = torch::tensor({0, 1, 2, 3});
  std::vector<torch::Tensor> grads[2];
  for (const bool votes : {false, true}) {
    SCOPED_TRACE(votes ? "carry_votes" : "no votes");
    torch::manual_seed(0);
    auto m = make_vit(tiny_config());
    rpct::GradSyncOptions opt{0.01, 0.05, /*prescaled_loss=*/true};
    opt.carry_votes = votes;
    rpct::GradSync sync(named(m), dist(), rpct::make_mpi_backend(dist()), opt);
    int64_t params_bytes = 0;
    for (const auto& p : m->parameters()) params_bytes += p.numel() * 4;
    const auto bytes = sync.bucket_bytes();
    EXPECT_EQ(std::accumulate(bytes.begin(), bytes.end(), int64_t{0}), params_bytes + (votes ? 4 : 0));
    // Round r: rank 1 votes in round 1, both in round 2, nobody in rounds 0 and 3.
    const int64_t expected[] = {0, 1, 2, 0};
    for (int round = 0; round < 4; ++round) {
      const bool mine = (round == 1 && dist().rank() == 1) || round == 2;
      sync.set_vote_source([mine] { return mine; });
      sync.zero_grad();
      (torch::nn::functional::cross_entropy(m->forward(x), y) * sync.loss_scale()).backward();
      sync.finish();
      if (votes) EXPECT_EQ(sync.votes(), expected[round]) << "round " << round;
    }
    for (const auto& p : m->parameters()) grads[votes].push_back(p.grad().clone());
  }
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_TRUE(grads[0][i].equal(grads[1][i])) << "param " << i;
}

TEST(GradSync, BroadcastMakesEveryRankEqualToRoot) {
  REQUIRE_TWO_RANKS();
  torch::manual_seed(100 + dist().rank());  // different init per rank
  auto m = make_vit(tiny_config());
  auto sync = make_sync(m);
  auto params = m->parameters();
  sync.broadcast_from_root(params);
  torch::manual_seed(100);  // what rank 0 initialized
  auto ref = make_vit(tiny_config());
  auto rp = ref->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(params[i].equal(rp[i])) << i;
}

// The data-parallel tests below train on real images: a rank's share of each global batch of 2b, and the
// reference (one process, no GradSync) on the whole global batch. The ranks' shards are contiguous halves of
// the global batch drawn by `whole`, so rank 0 + rank 1 = the reference's batch, sample for sample.
namespace {

struct GlobalBatches {
  explicit GlobalBatches(const rpct::Config& cfg, int64_t per_rank)
      : data(rpct::load_fashion_mnist(cfg.data.root, "train", 2048)),
        b(per_rank),
        shard(data.size(), b, 2, dist().rank(), 3),
        whole(data.size(), 2 * b, 1, 0, 3) {}
  rpct::Batch of(const std::vector<int64_t>& idx) const {
    rpct::Batch batch;
    std::tie(batch.x, batch.y) = rpct::make_batch(data, idx, false, 0, 0);
    return batch;
  }
  // Micro-batch a (of `accum`) of this rank's share of global batch `step`.
  rpct::Batch micro(int64_t step, int a, int accum) {
    const auto idx = shard.batch(0, step);
    return of(std::vector<int64_t>(idx.begin() + a * b / accum, idx.begin() + (a + 1) * b / accum));
  }
  rpct::Batch global(int64_t step) { return of(whole.batch(0, step)); }

  rpct::ImageSet data;
  int64_t b;
  rpct::DistributedSampler shard, whole;
};

// Plain SGD: the update is lr x gradient, so an error in the gradient's scale moves the weights (AdamW's
// update and gradient clipping are blind to a constant scale); no clipping, so .grad stays as GradSync left it.
void use_plain_sgd(rpct::Config& cfg) {
  cfg.train.optimizer = "sgd";
  cfg.train.momentum = 0.0;
  cfg.train.clip_grad = 0.0;
  cfg.train.lr = 0.1;
}

// Weights after data-parallel steps vs one process: float32 reductions summed in another order (per-rank
// means, then averaged) differ from the single-batch mean by rounding only. AdamW + clipping: measured up to
// 3.3e-6 after 4 steps of lr 2e-3 (its division by sqrt(exp_avg_sq) magnifies the rounding of tiny
// gradients). Plain SGD: up to 1.5e-8 after 2 steps of lr 0.1, while a gradient off by a factor 2 moves the
// weights apart by lr x |gradient|, 3e-5 to 2e-2 here.
constexpr double kAdamWParamTol = 1e-5, kSgdParamTol = 1e-6;

}  // namespace

// k steps with 2 ranks x batch b == k steps with 1 rank x batch 2b, and the same with gradient accumulation
// (2 micro-batches of b/2, no_sync on the first). Two ways to use GradSync: the trainer's own step
// (Trainer::step: .grad are bucket views zeroed in place, the loss pre-scaled by 1/world), and a plain
// LibTorch loop (optimizer zero_grad = set_to_none; GradSync copies each gradient into its bucket and
// averages). The reference is Trainer::step in one process (no GradSync) on the whole global batch. All with
// AdamW + clipping (the DeiT recipe, 4 steps); the plain loop also with plain SGD (2 steps), where a gradient
// off by a constant factor shows in the weights (Trainer::step with SGD: SyncedGradientsEqualTheFullBatchGradient).
TEST(GradSync, TwoRanksEqualOneRankWithDoubleBatch) {
  REQUIRE_TWO_RANKS();
  torch::set_num_threads(1);
  struct Mode {
    bool trainer_step;
    int accum;
    const char* overlap;  // dist.overlap of the Trainer
  };
  const Mode modes[] = {{true, 1, "on"}, {true, 2, "on"}, {true, 2, "off"}, {false, 1, "on"}, {false, 2, "on"}};
  for (const std::string optimizer : {"adamw", "sgd"}) {
    auto cfg = tiny_config();  // AdamW, lr 2e-3, clip_grad 1.0
    if (optimizer == "sgd") use_plain_sgd(cfg);
    const int64_t steps = optimizer == "sgd" ? 2 : 4;
    GlobalBatches batches(cfg, 32);
    for (const auto& [trainer_step, accum, overlap] : modes) {
      if (optimizer == "sgd" && trainer_step) continue;  // the test below, gradient by gradient
      SCOPED_TRACE(optimizer + ", " + (trainer_step ? "Trainer::step" : "plain loop, set_to_none") + ", accum " +
                   std::to_string(accum) + ", overlap " + overlap);
      cfg.dist.overlap = overlap;
      torch::manual_seed(7);
      rpct::Trainer dp(cfg, dist(), rpct::make_task(cfg, torch::kCPU));
      ASSERT_EQ(dp.grad_sync().overlaps(), cfg.dist.overlap == "on");
      ASSERT_EQ(rpct::optimizer_kind(dp.optimizer()), optimizer);
      torch::manual_seed(7);
      rpct::Trainer single(cfg, dist(), rpct::make_task(cfg, torch::kCPU), /*data_parallel=*/false);
      // The plain loop's own model, optimizer and GradSync (averaging copy, no pre-scaled loss).
      torch::manual_seed(7);
      auto plain = rpct::make_task(cfg, torch::kCPU);
      auto opt = rpct::make_optimizer(*plain, cfg.train);
      std::vector<std::pair<std::string, torch::Tensor>> plain_params;
      for (const auto& p : plain->model().named_parameters()) plain_params.emplace_back(p.key(), p.value());
      rpct::GradSync sync(plain_params, dist(), rpct::make_mpi_backend(dist()), rpct::GradSyncOptions{0.01, 0.05});
      for (int64_t s = 0; s < steps; ++s) {
        if (trainer_step) {
          int a = 0;
          dp.step(accum, [&] { return batches.micro(s, a++, accum); }, cfg.train.lr);
        } else {
          plain->model().train();
          opt->zero_grad();
          for (int a = 0; a < accum; ++a) {
            sync.set_sync(a == accum - 1);
            (plain->train_loss(batches.micro(s, a, accum)) / accum).backward();
          }
          sync.finish();
          if (cfg.train.clip_grad > 0)
            torch::nn::utils::clip_grad_norm_(plain->model().parameters(), cfg.train.clip_grad);
          opt->step();
        }
        single.step(batches.global(s), cfg.train.lr);
      }
      const double tol = optimizer == "sgd" ? kSgdParamTol : kAdamWParamTol;
      const auto& ref = single.params();
      for (size_t i = 0; i < ref.size(); ++i) {
        const auto& got = trainer_step ? dp.params()[i].second : plain_params[i].second;
        EXPECT_TRUE(torch::allclose(got, ref[i].second, tol, tol))
            << ref[i].first << " max diff " << (got - ref[i].second).abs().max().item<double>();
      }
    }
  }
}

// The gradients themselves, not only the weights they lead to. After each Trainer::step with 2 ranks x batch
// b (the loss pre-scaled by 1/world, the .grad views into GradSync's buckets, all-reduced during backward with
// overlap on or in finish() with it off; with accumulation 2 the first micro-batch under no_sync), every
// parameter's .grad on every rank equals, elementwise, the gradient of one process on the whole global batch
// of 2b. A sum over ranks instead of the mean, or a wrong count under accumulation, is off by a factor 2.
// Plain SGD steps between (no clipping, so nothing rescales .grad after the sync); the weights after them
// match too.
TEST(GradSync, SyncedGradientsEqualTheFullBatchGradient) {
  REQUIRE_TWO_RANKS();
  torch::set_num_threads(1);
  auto cfg = tiny_config();
  use_plain_sgd(cfg);
  GlobalBatches batches(cfg, 32);
  const int64_t steps = 2;  // the first at the same initial weights, the second after one synced update
  // Gradients are float32 means over 64 samples; the ranks sum them in another grouping (means of 32, or of
  // 16 under accumulation, then the all-reduce), which changes only the rounding: measured up to 1.6e-6 of the
  // tensor's largest gradient. Each element must be within 1e-5 of that largest |gradient| (a factor 2 error
  // is off by up to 1, in units of it).
  constexpr double kGradTolOfMax = 1e-5;
  struct Mode {
    int accum;
    const char* overlap;  // dist.overlap of the Trainer
  };
  for (const auto& [accum, overlap] : {Mode{1, "on"}, Mode{1, "off"}, Mode{2, "on"}, Mode{2, "off"}}) {
    SCOPED_TRACE("accum " + std::to_string(accum) + ", overlap " + overlap);
    cfg.dist.overlap = overlap;
    torch::manual_seed(7);
    rpct::Trainer dp(cfg, dist(), rpct::make_task(cfg, torch::kCPU));
    ASSERT_TRUE(dp.grad_sync().active());
    ASSERT_EQ(dp.grad_sync().overlaps(), cfg.dist.overlap == "on");
    torch::manual_seed(7);
    rpct::Trainer single(cfg, dist(), rpct::make_task(cfg, torch::kCPU), /*data_parallel=*/false);
    ASSERT_FALSE(single.grad_sync().active());
    for (int64_t s = 0; s < steps; ++s) {
      SCOPED_TRACE("step " + std::to_string(s));
      int a = 0;
      dp.step(accum, [&] { return batches.micro(s, a++, accum); }, cfg.train.lr);
      single.step(batches.global(s), cfg.train.lr);
      const auto& ref = single.params();
      for (size_t i = 0; i < ref.size(); ++i) {
        const auto& got = dp.params()[i].second.grad();
        const auto& want = ref[i].second.grad();
        ASSERT_TRUE(got.defined() && want.defined()) << ref[i].first;
        const double scale = want.abs().max().item<double>();
        const double diff = (got - want).abs().max().item<double>();
        EXPECT_LE(diff, kGradTolOfMax * scale) << ref[i].first << ".grad: max difference " << diff
                                               << ", largest |full-batch gradient| " << scale;
      }
    }
    const auto& ref = single.params();
    for (size_t i = 0; i < ref.size(); ++i) {
      const auto& got = dp.params()[i].second;
      EXPECT_TRUE(torch::allclose(got, ref[i].second, kSgdParamTol, kSgdParamTol))
          << ref[i].first << " max diff " << (got - ref[i].second).abs().max().item<double>();
    }
  }
}

TEST(GradSync, ConfigMismatchIsAClearErrorOnEveryRank) {
  REQUIRE_TWO_RANKS();
  auto m = make_vit(tiny_config());
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

// Ranks that would train on different device types (one found a GPU, one did not) are named before any
// backend is created: the check needs only DistContext (MPI), never the backend's set-up collective.
// Rank 1's parameters live on the meta device here, standing in for a device rank 0 does not use.
TEST(GradSync, DeviceMismatchIsNamedBeforeAnyBackend) {
  REQUIRE_TWO_RANKS();
  const auto device = dist().rank() == 1 ? torch::Device(torch::kMeta) : torch::Device(torch::kCPU);
  const std::vector<std::pair<std::string, torch::Tensor>> params = {{"w", torch::empty({4, 3}, device)}};
  try {
    rpct::GradSync::check_fingerprint(dist(), "same config", params);
    FAIL() << "expected a device mismatch error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank(s) 1 (meta) train on another device type than rank 0 (cpu)"), std::string::npos) << msg;
  }
}

// The training RNG is seeded with train.seed + rank after the start-up broadcast: the ranks draw different
// dropout / drop-path masks (before, every rank drew rank 0's), reproducibly.
TEST(Trainer, TrainingRngDiffersPerRankAndRepeats) {
  REQUIRE_TWO_RANKS();
  const auto cfg = rpct::parse_config("train: {seed: 5}\n", "t.yaml");
  rpct::seed_training_rng(cfg, dist());
  const double mine = torch::rand({1}, torch::kFloat64).item<double>();
  rpct::seed_training_rng(cfg, dist());
  EXPECT_EQ(torch::rand({1}, torch::kFloat64).item<double>(), mine) << "the same (seed, rank) gives the same stream";
  std::vector<double> per_rank(dist().world_size(), 0.0);
  per_rank[dist().rank()] = mine;
  const auto all = dist().allreduce_sum(per_rank);
  EXPECT_NE(all[0], all[1]) << "ranks 0 and 1 drew the same first number";
}
