# scripts/: the GPU check script on a machine without a GPU (CUDA builds only: it needs one to build).
if(RPCT_WITH_CUDA)
  rpct_add_script_test(test_gpu_check SCRIPT test_gpu_check.sh LABELS unit TIMEOUT 1200)
  set_tests_properties(test_gpu_check PROPERTIES SKIP_RETURN_CODE 77)  # a GPU is present: run the script itself
endif()
