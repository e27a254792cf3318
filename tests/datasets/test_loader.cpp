#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "datasets/loader.h"

using namespace rpct;

namespace {

// Batch i's x is filled with the sum of its indices; takes a varying time so workers finish out of order.
struct FakeSource : BatchSource {
  std::atomic<int> in_flight{0}, max_in_flight{0};
  int64_t size() const override { return 1000; }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& idx) override {
    const int now = ++in_flight;
    int prev = max_in_flight.load();
    while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
    }
    if (!idx.empty() && idx[0] == 666) {
      --in_flight;
      throw DecodeError("/data/bad.JPEG: boom");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + (idx.empty() ? 0 : idx[0] % 3) * 3));
    Batch b;
    b.epoch = epoch;
    int64_t s = 0;
    for (auto i : idx) s += i;
    b.x = torch::full({static_cast<int64_t>(idx.size()), 1}, static_cast<float>(s));
    b.indices = idx;
    --in_flight;
    return b;
  }
};

std::vector<std::vector<int64_t>> make_steps(int64_t n, int64_t b) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t s = 0; s < n; ++s) {
    std::vector<int64_t> v;
    for (int64_t i = 0; i < b; ++i) v.push_back(s * b + i);
    out.push_back(v);
  }
  return out;
}

}  // namespace

TEST(Loader, InOrderBoundedAndResumable) {
  auto src = std::make_shared<FakeSource>();
  DataLoader loader(src, 4, 3);
  loader.start_epoch(2, make_steps(20, 3));
  int64_t step = 0;
  while (loader.has_next()) {
    Batch b = loader.next();
    EXPECT_EQ(b.step, step);
    EXPECT_EQ(b.epoch, 2);
    EXPECT_EQ(b.indices[0], step * 3);
    EXPECT_EQ(b.x[0][0].item<float>(), static_cast<float>(9 * step + 3));
    ++step;
  }
  EXPECT_EQ(step, 20);
  EXPECT_LE(src->max_in_flight.load(), 3);  // bounded by prefetch, not by workers
  EXPECT_EQ(loader.stats().images, 60);
  EXPECT_GT(loader.stats().worker_seconds, 0);
  EXPECT_THROW(loader.next(), std::out_of_range);

  // resume mid-epoch, and restart an epoch while batches are in flight
  loader.start_epoch(3, make_steps(10, 2), /*first_step=*/7);
  EXPECT_EQ(loader.next().step, 7);
  loader.start_epoch(4, make_steps(10, 2), 0);
  Batch b = loader.next();
  EXPECT_EQ(b.step, 0);
  EXPECT_EQ(b.epoch, 4);
}

TEST(Loader, WorkerErrorsReachTheCaller) {
  auto src = std::make_shared<FakeSource>();
  for (int workers : {0, 2}) {
    DataLoader loader(src, workers, 2);
    loader.start_epoch(0, {{1}, {666}, {3}});
    EXPECT_EQ(loader.next().step, 0);
    try {
      loader.next();
      FAIL();
    } catch (const DecodeError& e) {
      EXPECT_NE(std::string(e.what()).find("/data/bad.JPEG"), std::string::npos);
    }
    EXPECT_EQ(loader.next().step, 2);  // the loader keeps going after a failed batch
  }
}
