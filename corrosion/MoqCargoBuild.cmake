# Build step of moq's built-in cargo importer (see MoqRust.cmake). Run as
#   cmake -DMOQ_PARAMS=<params.cmake> -DMOQ_PROFILE=<dev|release> -P MoqCargoBuild.cmake
#
# Builds the moq-ffi static library with `cargo rustc --locked --crate-type staticlib`
# and checks the native libraries rustc says it needs against the ones CMake links
# (the list found at configure time), so a missing one is a clear error here rather
# than undefined symbols at link time.

cmake_minimum_required(VERSION 3.22)

if(NOT MOQ_PARAMS OR NOT MOQ_PROFILE)
  message(FATAL_ERROR "usage: cmake -DMOQ_PARAMS=<file> -DMOQ_PROFILE=<dev|release> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
include("${MOQ_PARAMS}")

foreach(_kv IN LISTS MOQ_ENV)
  string(FIND "${_kv}" "=" _eq)
  string(SUBSTRING "${_kv}" 0 ${_eq} _name)
  math(EXPR _eq "${_eq} + 1")
  string(SUBSTRING "${_kv}" ${_eq} -1 _value)
  set(ENV{${_name}} "${_value}")
endforeach()

if(MOQ_PROFILE STREQUAL "release")
  set(_profile_args --release)
elseif(MOQ_PROFILE STREQUAL "dev")
  set(_profile_args)
else()
  set(_profile_args --profile "${MOQ_PROFILE}")
endif()

set(_feature_args)
if(MOQ_FEATURES)
  list(JOIN MOQ_FEATURES "," _features)
  set(_feature_args --features "${_features}")
endif()

set(_cmd "${MOQ_CARGO}" rustc --locked --lib --package moq-ffi --crate-type staticlib
         --manifest-path "${MOQ_MANIFEST}" --target-dir "${MOQ_TARGET_DIR}" ${_profile_args}
         ${_feature_args} -- --print=native-static-libs)
list(JOIN _cmd " " _shown)
message(STATUS "moq: ${_shown}")

# stdout/stderr are shown as they come and stderr is also kept for the check below.
execute_process(
  COMMAND ${_cmd}
  WORKING_DIRECTORY "${MOQ_CRATE_DIR}"
  RESULT_VARIABLE _rc
  ERROR_VARIABLE _err
  ECHO_ERROR_VARIABLE)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "moq: cargo failed (${_rc}) building the Rust crate moq-ffi")
endif()

# rustc prints the line only when it actually linked the library (a no-op build
# prints nothing: then the previous check still holds).
if("${_err}" MATCHES "native-static-libs: ([^\r\n]*)")
  string(STRIP "${CMAKE_MATCH_1}" _flags)
  separate_arguments(_flags UNIX_COMMAND "${_flags}")
  set(_missing)
  foreach(_f IN LISTS _flags)
    if(_f MATCHES "^-l(.+)$")
      set(_lib "${CMAKE_MATCH_1}")
    else()
      set(_lib "${_f}")
    endif()
    # The C++ standard library comes with the C++ linker driver.
    if(_lib MATCHES "^(stdc\\+\\+|c\\+\\+|c\\+\\+abi)$")
      continue()
    endif()
    if(NOT _lib IN_LIST MOQ_EXPECTED_NATIVE_LIBS)
      list(APPEND _missing "${_lib}")
    endif()
  endforeach()
  if(_missing)
    list(REMOVE_DUPLICATES _missing)
    list(JOIN _flags " " _flags)
    message(FATAL_ERROR
      "moq: the Rust static library needs native libraries that CMake does not link: ${_missing}\n"
      "rustc reported: ${_flags}\n"
      "Re-run cmake with -DMOQ_RUST_EXTRA_NATIVE_LIBS=\"${_missing}\" (and tell the moq developers).")
  endif()
endif()
