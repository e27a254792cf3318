// GradSync on DeiT-Tiny's real gradient sizes vs one raw MPI_Allreduce of the same bytes, side by
// side in one run (mpirun -np 2). Prints a table and, last, a JSON line with `ratio` =
// GradSync bandwidth / raw bandwidth (bytes / seconds, nccl-tests' algbw).
#include <chrono>
#include <algorithm>
#include <functional>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "distributed/backend.h"
#include "distributed/grad_sync.h"
#include "models/vit.h"
#include "trainer/classification.h"
#include "trainer/model_options.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  auto& dist = rpct::DistContext::init(&argc, &argv);
  torch::set_num_threads(1);
  const int reps = argc > 1 ? std::atoi(argv[1]) : 200;
  auto cfg = rpct::parse_config("model: {arch: tiny, img_size: 224, patch: 16, in_chans: 3, num_classes: 1000}\n",
                                "deit_tiny");
  rpct::ViT model(rpct::vit_options(cfg));
  std::vector<std::pair<std::string, torch::Tensor>> named;
  int64_t bytes = 0;
  for (const auto& p : model->named_parameters()) {
    named.emplace_back(p.key(), p.value());
    bytes += p.value().nbytes();
  }
  // As the trainer uses it: .grad are bucket views zeroed in place, the loss is pre-scaled by 1/world.
  rpct::GradSync sync(named, dist, rpct::make_mpi_backend(dist), rpct::GradSyncOptions{1.0, 25.0, true});
  // A backward whose gradients are fixed random tensors: grad(p) = g_p, computed elementwise, so the
  // hooks fire parameter by parameter as in a real backward but compute costs almost nothing.
  std::vector<torch::Tensor> gs;
  for (auto& [n, p] : named) gs.push_back(torch::randn_like(p));
  auto fake_backward = [&] {
    torch::Tensor loss = torch::zeros({});
    for (size_t i = 0; i < named.size(); ++i) loss = loss + (named[i].second * gs[i]).sum();
    (loss * sync.loss_scale()).backward();
  };
  auto raw = rpct::make_mpi_backend(dist);
  auto flat = torch::randn({bytes / 4});

  // Variants run interleaved, one of each per round, so that they see the same machine state. The costs
  // of GradSync and of the raw all-reduce are the medians over rounds of the paired differences
  // (variant - backward only, within the round), which cancel slow drifts of the shared machine.
  // zero_grad (a memset of the buckets) runs outside the timed region.
  //   0 backward only (no_sync)          1 backward + GradSync (overlapped, hooks, comm thread)
  //   2 backward (no_sync), then one blocking MPI_Allreduce per bucket buffer, in place: the same bytes
  //     in the same memory right after the same backward, with nothing of GradSync's machinery
  //   3 MPI_Allreduce of a separate buffer of the same size (cold: evicted by the other variants)
  auto raw_on_buckets = [&] {
    for (int64_t i = 0; i < sync.num_buckets(); ++i) raw->allreduce_sum(sync.bucket_buffer(i));
  };
  std::vector<std::function<void()>> prep = {[&] { sync.zero_grad(); sync.set_sync(false); },
                                             [&] { sync.zero_grad(); sync.set_sync(true); },
                                             [&] { sync.zero_grad(); sync.set_sync(false); }, [] {}};
  std::vector<std::function<void()>> run = {[&] { fake_backward(); }, [&] { fake_backward(); sync.finish(); },
                                            [&] { fake_backward(); raw_on_buckets(); },
                                            [&] { raw->allreduce_sum(flat); }};
  std::vector<std::vector<double>> times(run.size());
  for (int r = -1; r < reps; ++r) {  // round -1: warm-up
    for (size_t v = 0; v < run.size(); ++v) {
      prep[v]();
      dist.barrier();
      const auto t0 = Clock::now();
      run[v]();
      const double t = std::chrono::duration<double>(Clock::now() - t0).count();
      if (r >= 0) times[v].push_back(t);
    }
  }
  auto median = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return x[x.size() / 2];
  };
  auto paired = [&](size_t v) {
    std::vector<double> d;
    for (int r = 0; r < reps; ++r) d.push_back(times[v][r] - times[0][r]);
    return std::max(1e-9, median(d));
  };
  // 4: the same separate buffer all-reduced back to back (cache-warm: the best case MPI can do).
  std::vector<double> warm;
  for (int r = -1; r < reps; ++r) {
    dist.barrier();
    const auto t0 = Clock::now();
    raw->allreduce_sum(flat);
    if (r >= 0) warm.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const double t_warm = median(warm);
  const double t_backward = median(times[0]), t_sync = median(times[1]), t_bwd_raw = median(times[2]),
               t_cold = median(times[3]);
  const double t_comm = paired(1), t_raw = paired(2);
  const double bw_sync = bytes / t_comm / 1e9, bw_raw = bytes / t_raw / 1e9;
  // nccl-tests' bus bandwidth of an all-reduce: algbw x 2(n-1)/n, the bytes each rank's link carries in a
  // ring (reduce-scatter + all-gather), comparable across rank counts and with the link's speed.
  const double bus_factor = 2.0 * (dist.world_size() - 1) / dist.world_size();
  if (dist.is_root()) {
    std::printf("allreduce: DeiT-Tiny gradients, %lld params, %.2f MB, %lld buckets, %d ranks, medians of %d rounds\n",
                static_cast<long long>(bytes / 4), bytes / 1e6, static_cast<long long>(sync.num_buckets()),
                dist.world_size(), reps);
    std::printf("%-52s %10s %12s %12s\n", "what", "ms", "algbw GB/s", "busbw GB/s");
    std::printf("%-52s %10.3f %12s %12s\n", "backward only (no_sync)", t_backward * 1e3, "-", "-");
    std::printf("%-52s %10.3f %12s %12s\n", "backward + GradSync", t_sync * 1e3, "-", "-");
    std::printf("%-52s %10.3f %12s %12s\n", "backward + raw MPI_Allreduce of the buckets", t_bwd_raw * 1e3, "-", "-");
    const auto row = [&](const char* what, double seconds) {
      const double algbw = bytes / seconds / 1e9;
      std::printf("%-52s %10.3f %12.3f %12.3f\n", what, seconds * 1e3, algbw, algbw * bus_factor);
    };
    row("GradSync (difference)", t_comm);
    row("raw MPI_Allreduce of the buckets (difference)", t_raw);
    row("raw MPI_Allreduce, separate buffer, cold", t_cold);
    row("raw MPI_Allreduce, separate buffer, back to back", t_warm);
    std::printf("%s\n", nlohmann::json{{"bench", "allreduce"}, {"bytes", bytes}, {"ranks", dist.world_size()},
                                       {"buckets", sync.num_buckets()}, {"gradsync_ms", t_comm * 1e3},
                                       {"raw_ms", t_raw * 1e3}, {"raw_cold_ms", t_cold * 1e3},
                                       {"raw_warm_ms", t_warm * 1e3}, {"gradsync_gb_s", bw_sync},
                                       {"raw_gb_s", bw_raw}, {"gradsync_busbw_gb_s", bw_sync * bus_factor},
                                       {"raw_busbw_gb_s", bw_raw * bus_factor}, {"ratio", bw_sync / bw_raw},
                                       {"ratio_vs_warm", t_warm / t_comm}}
                             .dump()
                             .c_str());
  }
  dist.finalize();
  return 0;
}
