# fuzz/: the committed fuzz inputs (seeds and regressions of every target) replayed through the fuzz entry
# functions in the normal build (see tests/CMakeLists.txt for the functions and labels). The fuzzing itself:
# scripts/fuzz.sh (clang, libFuzzer).
set(_fuzz ${PROJECT_SOURCE_DIR}/fuzz)
rpct_add_test(test_fuzz_inputs NO_PCH LABELS unit SOURCES test_fuzz_inputs.cpp)
target_sources(test_fuzz_inputs PRIVATE ${_fuzz}/fuzz_common.cpp ${_fuzz}/entry_config.cpp ${_fuzz}/entry_idx.cpp
               ${_fuzz}/entry_decode.cpp ${_fuzz}/entry_safetensors.cpp ${_fuzz}/entry_checkpoint_meta.cpp)
# The entries that never include LibTorch skip the precompiled header (tests/CMakeLists.txt: NO_PCH).
set_source_files_properties(${_fuzz}/fuzz_common.cpp ${_fuzz}/entry_config.cpp ${_fuzz}/entry_decode.cpp
                            ${_fuzz}/entry_checkpoint_meta.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
# The seed writer (run by hand when the formats change: `cmake --build build --target fuzz_write_seeds`, then
# build/tests/fuzz_write_seeds fuzz/corpus); not part of the default build.
add_executable(fuzz_write_seeds EXCLUDE_FROM_ALL ${_fuzz}/write_seeds.cpp)
target_precompile_headers(fuzz_write_seeds REUSE_FROM rpct_pch)
target_link_libraries(fuzz_write_seeds PRIVATE rpct_core)
