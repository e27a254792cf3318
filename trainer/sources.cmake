# trainer/: config -> options, Task, the loop, checkpoints, metrics (see the top-level CMakeLists.txt)
target_sources(rpct_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/runtime.cpp
  ${CMAKE_CURRENT_LIST_DIR}/data.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_options.cpp
  ${CMAKE_CURRENT_LIST_DIR}/classification.cpp
  ${CMAKE_CURRENT_LIST_DIR}/segmentation.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ema.cpp
  ${CMAKE_CURRENT_LIST_DIR}/optimizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/task.cpp
  ${CMAKE_CURRENT_LIST_DIR}/trainer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/graceful_stop.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_hooks.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/segmentation_eval.cpp
  ${CMAKE_CURRENT_LIST_DIR}/run_dir.cpp
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint_files.cpp
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/backbone.cpp
  ${CMAKE_CURRENT_LIST_DIR}/training_curves.cpp
)
