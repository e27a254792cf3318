# The source tree itself: no include runs up a floor (cmake/floors.txt).
add_test(NAME test_floors COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/check_floors.py ${PROJECT_SOURCE_DIR})
_rpct_test_properties(test_floors "unit" "")
