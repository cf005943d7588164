# Small helpers so per-folder CMake files stay declarative.

# warden_module(NAME SOURCES ... DEPS ...): a library target warden_<NAME> with alias
# warden::<NAME>, public headers in <folder>/include.
function(warden_module name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS" ${ARGN})
  add_library(warden_${name} ${arg_SOURCES})
  add_library(warden::${name} ALIAS warden_${name})
  target_include_directories(warden_${name}
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(warden_${name} PUBLIC ${arg_DEPS} PRIVATE warden_flags)
endfunction()

# warden_test(NAME SOURCES ... LABELS ...): one GoogleTest executable registered with ctest.
function(warden_test name)
  cmake_parse_arguments(arg "" "TIMEOUT" "SOURCES;LABELS;DEPS" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE ${arg_DEPS} GTest::gtest GTest::gtest_main warden_flags)
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${arg_TIMEOUT})
endfunction()
