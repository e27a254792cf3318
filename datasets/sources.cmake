# sources of this area (see the top-level CMakeLists.txt)
target_sources(rpct_core PRIVATE
  datasets/fashion_mnist.cpp
  datasets/sampler.cpp
  datasets/decode.cpp
  datasets/image_folder.cpp
  datasets/ade20k.cpp
  datasets/image_ops.cpp
  datasets/rand_augment.cpp
  datasets/mixup.cpp
  datasets/transforms.cpp
  datasets/picture.cpp
  datasets/loader.cpp
  datasets/batch_source.cpp
)
target_link_libraries(rpct_core PUBLIC turbojpeg png)

# decode + train-augment throughput on a directory of images (bench/loader/run.sh)
add_executable(loader_bench EXCLUDE_FROM_ALL bench/loader/loader_bench.cpp)
add_dependencies(benchmarks loader_bench)
target_link_libraries(loader_bench PRIVATE rpct_core)
target_precompile_headers(loader_bench REUSE_FROM rpct_pch)
