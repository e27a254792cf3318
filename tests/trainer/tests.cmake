# trainer/: config, checkpoint and safetensors readers, the training step, resume and export (see
# tests/CMakeLists.txt for the functions and labels).
rpct_add_test(test_config LABELS unit SOURCES test_config.cpp)
rpct_add_test(test_safetensors LABELS unit SOURCES test_safetensors.cpp)
rpct_add_test(test_checkpoint LABELS unit SOURCES test_checkpoint.cpp)
rpct_add_test(test_train_step LABELS unit slow SOURCES test_train_step.cpp)
rpct_add_script_test(test_export SCRIPT test_export.sh LABELS unit slow)
rpct_add_script_test(test_resume SCRIPT test_resume.sh LABELS mpi slow TIMEOUT 600)
rpct_add_script_test(test_drills SCRIPT test_drills.sh LABELS mpi slow TIMEOUT 400)
rpct_add_test(test_weights LABELS unit SOURCES test_weights.cpp)
rpct_add_test(test_segmentation_eval LABELS unit SOURCES test_segmentation_eval.cpp)
rpct_add_test(test_segmentation_task LABELS unit SOURCES test_segmentation_task.cpp)
rpct_add_script_test(test_seg_eval SCRIPT test_seg_eval.sh LABELS mpi slow TIMEOUT 300)
