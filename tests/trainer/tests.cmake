# trainer/: config, checkpoint and safetensors readers, the training step, resume and export (see
# tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_config LABELS unit SOURCES test_config.cpp)
rpct_add_test(test_safetensors LABELS unit SOURCES test_safetensors.cpp)
rpct_add_test(test_checkpoint LABELS unit SOURCES test_checkpoint.cpp)
rpct_add_test(test_train_step LABELS unit slow SOURCES test_train_step.cpp)
rpct_add_test(test_optimizer LABELS unit SOURCES test_optimizer.cpp)
rpct_add_script_test(test_export SCRIPT test_export.sh LABELS unit slow)
rpct_add_script_test(test_resume SCRIPT test_resume.sh LABELS mpi slow TIMEOUT 600)
rpct_add_script_test(test_resume_iters SCRIPT test_resume_iters.sh LABELS mpi slow TIMEOUT 300)
rpct_add_script_test(test_drills SCRIPT test_drills.sh LABELS mpi slow TIMEOUT 400)
# Graceful stops on SIGTERM / SIGINT / SIGUSR1: the ranks agree on a step, checkpoint, exit 3, resume exactly.
rpct_add_script_test(test_stop SCRIPT test_stop.sh LABELS mpi slow TIMEOUT 400)
# TensorBoard events read by TensorBoard itself: the scalars of metrics.jsonl, a resumed curve, a truncated file.
rpct_add_script_test(test_tensorboard_events SCRIPT test_tensorboard_events.sh LABELS mpi slow TIMEOUT 300)
rpct_add_test(test_weights LABELS unit SOURCES test_weights.cpp)
rpct_add_test(test_segmentation_eval LABELS unit SOURCES test_segmentation_eval.cpp)
rpct_add_test(test_segmentation_task LABELS unit SOURCES test_segmentation_task.cpp)
rpct_add_script_test(test_seg_eval SCRIPT test_seg_eval.sh LABELS mpi slow TIMEOUT 300)
rpct_add_test(test_runtime LABELS unit SOURCES test_runtime.cpp)
# Training curves from metrics.jsonl (`rpctrain report`) and the SVG panel grid.
rpct_add_test(test_training_curves NO_PCH LABELS unit SOURCES test_training_curves.cpp)
# The CUDA trainer path on a device (label gpu: without one every case skips, reported by ctest as Skipped):
# placement, bf16/TF32, pinned batches, the CUDA generator in checkpoints.
rpct_add_test(test_gpu_trainer LABELS gpu SOURCES test_gpu_trainer.cpp)
# The Segmenter's exported weights in an independent PyTorch implementation (bench/segmenter/segmenter_ref.py):
# same logits; segmenter_logits is the tool that gives rpctrain's logits.
add_executable(segmenter_logits ${CMAKE_CURRENT_LIST_DIR}/segmenter_logits.cpp)
target_precompile_headers(segmenter_logits REUSE_FROM rpct_pch)
target_link_libraries(segmenter_logits PRIVATE rpct_core)
rpct_add_script_test(test_segmenter_parity SCRIPT test_segmenter_parity.sh LABELS unit slow TIMEOUT 300
                     ARGS $<TARGET_FILE:segmenter_logits>)
# segmenter_parity.py imports bench.segmenter.segmenter_ref / bench.pyref: the repository root on PYTHONPATH.
set_property(TEST test_segmenter_parity APPEND PROPERTY ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}")
rpct_add_test(test_backbone LABELS unit SOURCES test_backbone.cpp)
# Fashion-MNIST comes from scripts/setup.sh (dataset-fashion-mnist): test_seg_train fails, not skips, without it.
rpct_add_script_test(test_seg_train SCRIPT test_seg_train.sh LABELS unit slow)
rpct_add_script_test(test_eval_every SCRIPT test_eval_every.sh LABELS unit slow)
rpct_add_script_test(test_train_threads SCRIPT test_train_threads.sh LABELS mpi threads slow TIMEOUT 300)
# The classification task: which ViT parameters the optimizer decays, classification_loss by hand.
rpct_add_test(test_task LABELS unit SOURCES test_task.cpp)
