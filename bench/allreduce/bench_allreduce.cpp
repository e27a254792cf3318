// GradSync on DeiT-Tiny's real gradient sizes vs one raw MPI_Allreduce of the same bytes, side by
// side in one run (mpirun -np 2). Prints a table and, last, a JSON line with `ratio` =
// GradSync bandwidth / raw bandwidth (bytes / seconds, nccl-tests' algbw).
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "distributed/backend.h"
#include "distributed/grad_sync.h"
#include "models/vit.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  auto& dist = rpct::DistContext::init(&argc, &argv);
  torch::set_num_threads(1);
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  auto cfg = rpct::parse_config("model: {arch: tiny, img_size: 224, patch: 16, in_chans: 3, num_classes: 1000}\n",
                                "deit_tiny");
  rpct::ViT model(cfg);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  int64_t bytes = 0;
  for (const auto& p : model->named_parameters()) {
    named.emplace_back(p.key(), p.value());
    bytes += p.value().nbytes();
  }
  // A backward whose gradients are fixed random tensors: grad(p) = g_p, computed elementwise, so the
  // hooks fire parameter by parameter as in a real backward but compute costs almost nothing.
  std::vector<torch::Tensor> gs;
  for (auto& [n, p] : named) gs.push_back(torch::randn_like(p));
  auto fake_backward = [&] {
    torch::Tensor loss = torch::zeros({});
    for (size_t i = 0; i < named.size(); ++i) loss = loss + (named[i].second * gs[i]).sum();
    loss.backward();
  };
  rpct::GradSync sync(named, dist, rpct::make_mpi_backend(dist), rpct::GradSyncOptions{1.0, 25.0, 120.0});
  auto raw = rpct::make_mpi_backend(dist);
  auto flat = torch::randn({bytes / 4});

  auto time_it = [&](auto&& fn) {
    fn();  // warm-up
    dist.barrier();
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      dist.barrier();
      const auto t0 = Clock::now();
      fn();
      best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
  };
  const double t_backward = time_it([&] {
    for (auto& [n, p] : named) p.mutable_grad() = torch::Tensor();
    sync.set_sync(false);
    fake_backward();
  });
  const double t_sync = time_it([&] {
    for (auto& [n, p] : named) p.mutable_grad() = torch::Tensor();
    sync.set_sync(true);
    fake_backward();
    sync.finish();
  });
  const double t_raw = time_it([&] { raw->allreduce_sum(flat); });
  const double t_raw_async = time_it([&] { raw->allreduce_sum_async(flat)->wait(); });
  const double t_comm = std::max(1e-9, t_sync - t_backward);
  const double bw_sync = bytes / t_comm / 1e9, bw_raw = bytes / t_raw / 1e9;
  if (dist.is_root()) {
    std::printf("allreduce: DeiT-Tiny gradients, %lld params, %.2f MB, %lld buckets, %d ranks, best of %d\n",
                static_cast<long long>(bytes / 4), bytes / 1e6, static_cast<long long>(sync.num_buckets()),
                dist.world_size(), reps);
    std::printf("%-34s %10s %12s\n", "what", "ms", "algbw GB/s");
    std::printf("%-34s %10.3f %12s\n", "backward only (no_sync)", t_backward * 1e3, "-");
    std::printf("%-34s %10.3f %12s\n", "backward + GradSync", t_sync * 1e3, "-");
    std::printf("%-34s %10.3f %12.3f\n", "GradSync (difference)", t_comm * 1e3, bw_sync);
    std::printf("%-34s %10.3f %12.3f\n", "raw MPI_Allreduce, one buffer", t_raw * 1e3, bw_raw);
    std::printf("%-34s %10.3f %12.3f\n", "raw MPI_Iallreduce + wait", t_raw_async * 1e3, bytes / t_raw_async / 1e9);
    std::printf("%s\n", nlohmann::json{{"bench", "allreduce"}, {"bytes", bytes}, {"ranks", dist.world_size()},
                                       {"buckets", sync.num_buckets()}, {"gradsync_ms", t_comm * 1e3},
                                       {"raw_ms", t_raw * 1e3}, {"raw_async_ms", t_raw_async * 1e3}, {"gradsync_gb_s", bw_sync}, {"raw_gb_s", bw_raw},
                                       {"ratio", bw_sync / bw_raw}}
                            .dump()
                            .c_str());
  }
  dist.finalize();
  return 0;
}
