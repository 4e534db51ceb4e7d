# moq's own CMake layer for the Rust crate (DESIGN.md §5).
#
# moq_add_rust_crate(MANIFEST_PATH <Cargo.toml> [CXXFLAGS <flags>] [FEATURES <feature>...])
#
# Builds the `moq-ffi` crate as a static library, with a real Corrosion when one is
# available (find_package(Corrosion) >= 0.5) and otherwise with a small built-in
# cargo importer. Both paths create the same targets:
#
#   moq_ffi           INTERFACE library linking moq_ffi-static (what Corrosion creates)
#   moq_ffi-static    IMPORTED STATIC library: libmoq_ffi.a, with its native link libs
#   cargo-build_moq_ffi  custom target that runs cargo
#
# and set, in the caller's scope:
#
#   MOQ_RUST_IMPORTER        "corrosion" or "builtin"
#   MOQ_RUST_STATIC_LIB      path of the built static library (may hold generator
#                            expressions; fine for install(FILES))
#   MOQ_RUST_STATIC_LIB_NAME file name of the static library (libmoq_ffi.a)
#   MOQ_RUST_NATIVE_LIBS     native libraries the static library needs, as items for
#                            target_link_libraries (gcc_s;util;rt;pthread;m;dl;c on Linux)
#   MOQ_CXX_GENERATED_DIR    where build.rs copies the cxx generated headers (only for
#                            tools that index the library's C++; nothing includes them)
#
# Cache settings:
#   MOQ_CORROSION               AUTO (default) | ON | OFF
#   MOQ_RUST_EXTRA_NATIVE_LIBS  extra native libraries to link after the Rust library
#   MOQ_CARGO_TARGET_DIR        cargo --target-dir of the built-in importer
#
# CXXFLAGS is handed to cargo in the environment: cc / cxx-build compile the library's
# C++ (cpp/src/*.cpp, the cxx glue) with it. Used for the sanitizer build.
# FEATURES are Cargo features of the crate (the test build turns on `test-hooks`).
#
# The Cargo profile follows the CMake configuration the same way on both paths:
# Debug -> dev, every other configuration (or none) -> release.

include_guard(GLOBAL)

set(_MOQ_RUST_DIR "${CMAKE_CURRENT_LIST_DIR}")

set(MOQ_CORROSION "AUTO" CACHE STRING
    "Build the Rust crate with a real Corrosion: AUTO (if find_package finds >= 0.5), ON (required), OFF (built-in importer)")
set_property(CACHE MOQ_CORROSION PROPERTY STRINGS AUTO ON OFF)
set(MOQ_RUST_EXTRA_NATIVE_LIBS "" CACHE STRING
    "Extra native libraries the Rust static library needs (linked after it)")

# --- helpers ---------------------------------------------------------------------

function(_moq_find_cargo)
  if(MOQ_CARGO_EXECUTABLE)
    return()
  endif()
  set(_hints)
  if(DEFINED ENV{CARGO_HOME})
    list(APPEND _hints "$ENV{CARGO_HOME}/bin")
  endif()
  if(DEFINED ENV{HOME})
    list(APPEND _hints "$ENV{HOME}/.cargo/bin")
  endif()
  find_program(MOQ_CARGO_EXECUTABLE cargo HINTS ${_hints} DOC "cargo used to build the moq Rust crate")
  if(NOT MOQ_CARGO_EXECUTABLE)
    message(FATAL_ERROR "moq: cargo was not found. Install Rust (https://rustup.rs) or pass -DMOQ_CARGO_EXECUTABLE=/path/to/cargo.")
  endif()
  get_filename_component(_cargo_dir "${MOQ_CARGO_EXECUTABLE}" DIRECTORY)
  find_program(MOQ_RUSTC_EXECUTABLE rustc HINTS "${_cargo_dir}" ${_hints} DOC "rustc matching MOQ_CARGO_EXECUTABLE")
endfunction()

# Asks rustc which native libraries a Rust static library needs on this target
# (`--print=native-static-libs` on an empty std-only staticlib; under a second on any
# machine, and exactly what std needs). Falls back to the known set when that fails.
# Crate-specific extras are checked at build time by the built-in importer.
function(_moq_rust_native_libs out_var)
  set(_libs)
  if(MOQ_RUSTC_EXECUTABLE)
    set(_dir "${CMAKE_CURRENT_BINARY_DIR}/moq_native_libs_probe")
    file(MAKE_DIRECTORY "${_dir}")
    file(WRITE "${_dir}/probe.rs" "")
    execute_process(
      COMMAND "${MOQ_RUSTC_EXECUTABLE}" --crate-type staticlib --crate-name moq_probe
              --print=native-static-libs -o "${_dir}/libmoq_probe.a" "${_dir}/probe.rs"
      # rust-toolchain files in the source tree apply to the probe too
      WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
      RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
    file(REMOVE_RECURSE "${_dir}")
    if(_rc EQUAL 0 AND "${_err}" MATCHES "native-static-libs: ([^\r\n]*)")
      string(STRIP "${CMAKE_MATCH_1}" _flags)
      separate_arguments(_flags UNIX_COMMAND "${_flags}")
      foreach(_f IN LISTS _flags)
        if(_f MATCHES "^-l(.+)$")
          list(APPEND _libs "${CMAKE_MATCH_1}")   # -lpthread -> pthread
        else()
          list(APPEND _libs "${_f}")              # e.g. kernel32.lib with MSVC
        endif()
      endforeach()
    endif()
  endif()
  if(NOT _libs)
    if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
      set(_libs gcc_s util rt pthread m dl c)
    elseif(APPLE)
      set(_libs System c m iconv)
    endif()
    message(STATUS "moq: could not ask rustc for the native libraries of a Rust static library; using: ${_libs}")
  endif()
  list(APPEND _libs ${MOQ_RUST_EXTRA_NATIVE_LIBS})
  set(${out_var} "${_libs}" PARENT_SCOPE)
endfunction()

# Finds a usable Corrosion according to MOQ_CORROSION. Sets <out_var> to TRUE/FALSE and
# <out_version> to the version found.
function(_moq_find_corrosion out_var out_version)
  set(${out_var} FALSE PARENT_SCOPE)
  if(MOQ_CORROSION STREQUAL "OFF" OR NOT MOQ_CORROSION)
    return()
  endif()
  if(COMMAND corrosion_import_crate)
    # Already loaded by a parent project (find_package or FetchContent).
    set(_ver "${Corrosion_VERSION}")
    if(NOT _ver)
      set(_ver "(version unknown, loaded by the parent project)")
    endif()
    set(${out_var} TRUE PARENT_SCOPE)
    set(${out_version} "${_ver}" PARENT_SCOPE)
    return()
  endif()
  # Corrosion 0.5 declares SameMinorVersion compatibility and 0.6 SameMajorVersion, so no
  # single version request matches both: ask without a version and check it ourselves.
  find_package(Corrosion QUIET)
  if(Corrosion_FOUND AND Corrosion_VERSION VERSION_GREATER_EQUAL 0.5)
    set(${out_var} TRUE PARENT_SCOPE)
    set(${out_version} "${Corrosion_VERSION}" PARENT_SCOPE)
    return()
  endif()
  if(Corrosion_FOUND)
    set(_why "Corrosion ${Corrosion_VERSION} at ${Corrosion_DIR} is older than 0.5")
  else()
    set(_why "find_package(Corrosion) found nothing (set Corrosion_DIR or CMAKE_PREFIX_PATH)")
  endif()
  if(MOQ_CORROSION STREQUAL "ON")
    message(FATAL_ERROR "moq: MOQ_CORROSION=ON but ${_why}.")
  endif()
endfunction()

# --- the real Corrosion ----------------------------------------------------------

function(_moq_import_with_corrosion manifest cxxflags features)
  set(_features)
  if(features)
    set(_features FEATURES ${features})
  endif()
  corrosion_import_crate(
    MANIFEST_PATH "${manifest}"
    CRATES moq-ffi
    CRATE_TYPES staticlib
    LOCKED
    ${_features}
    # Same profile mapping as the built-in importer (Corrosion's own default would
    # build an empty configuration with the dev profile).
    PROFILE "$<IF:$<CONFIG:Debug>,dev,release>")
  if(NOT TARGET moq_ffi-static)
    message(FATAL_ERROR "moq: corrosion_import_crate did not create moq_ffi-static "
                        "(is the crate `moq-ffi` with lib name `moq_ffi` and crate-type staticlib?)")
  endif()
  corrosion_set_env_vars(moq_ffi "MOQ_CXX_GENERATED_DIR=${MOQ_CXX_GENERATED_DIR}")
  if(NOT "${cxxflags}" STREQUAL "")
    corrosion_set_env_vars(moq_ffi "CXXFLAGS=${cxxflags}")
  endif()
  set_property(TARGET moq_ffi-static PROPERTY IMPORTED_LINK_INTERFACE_LANGUAGES CXX)
endfunction()

# --- the built-in importer -------------------------------------------------------

function(_moq_import_builtin manifest cxxflags native_libs features)
  get_filename_component(_crate_dir "${manifest}" DIRECTORY)
  set(MOQ_CARGO_TARGET_DIR "${CMAKE_CURRENT_BINARY_DIR}/cargo" CACHE PATH
      "cargo --target-dir used by moq's built-in cargo importer")

  set(_lib_name "${CMAKE_STATIC_LIBRARY_PREFIX}moq_ffi${CMAKE_STATIC_LIBRARY_SUFFIX}")
  get_property(_multi GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
  if(_multi)
    set(_profile "$<IF:$<CONFIG:Debug>,dev,release>")
    set(_profile_dir "$<IF:$<CONFIG:Debug>,debug,release>")
    set(_stamp "${CMAKE_CURRENT_BINARY_DIR}/moq_ffi-$<CONFIG>.stamp")
  else()
    if(CMAKE_BUILD_TYPE STREQUAL "Debug")
      set(_profile dev)
      set(_profile_dir debug)
    else()
      set(_profile release)
      set(_profile_dir release)
    endif()
    set(_stamp "${CMAKE_CURRENT_BINARY_DIR}/moq_ffi.stamp")
  endif()
  set(_lib "${MOQ_CARGO_TARGET_DIR}/${_profile_dir}/${_lib_name}")

  # Environment of the cargo run. CXX: compile the library's C++ with CMake's compiler
  # (Corrosion does the same through CXX_<target>).
  set(_env "CXX=${CMAKE_CXX_COMPILER}")
  set(_generated_headers)
  if(NOT _multi)
    # (With a multi-config generator, configurations would write the same directory.)
    list(APPEND _env "MOQ_CXX_GENERATED_DIR=${MOQ_CXX_GENERATED_DIR}")
    set(_generated_headers ${MOQ_CXX_GENERATED_HEADERS})
  endif()
  if(NOT "${cxxflags}" STREQUAL "")
    list(APPEND _env "CXXFLAGS=${cxxflags}")
  endif()

  # Everything the build depends on. CONFIGURE_DEPENDS re-globs at build time, so an
  # added source file is noticed without re-running cmake by hand.
  file(GLOB_RECURSE _deps CONFIGURE_DEPENDS
    "${_crate_dir}/src/*"
    "${_crate_dir}/cpp/src/*"
    "${_crate_dir}/cpp/include/*")
  foreach(_f Cargo.toml Cargo.lock build.rs rust-toolchain rust-toolchain.toml .cargo/config.toml .cargo/config)
    if(EXISTS "${_crate_dir}/${_f}")
      list(APPEND _deps "${_crate_dir}/${_f}")
    endif()
  endforeach()

  # Parameters of the build script, rewritten only when they change (so a change of
  # compiler flags re-runs cargo, and nothing else does).
  set(_params "${CMAKE_CURRENT_BINARY_DIR}/moq_ffi-cargo-params.cmake")
  set(_content "# Generated by moq's corrosion/MoqRust.cmake; do not edit.\n")
  foreach(_pair
      "MOQ_CARGO;${MOQ_CARGO_EXECUTABLE}"
      "MOQ_MANIFEST;${manifest}"
      "MOQ_CRATE_DIR;${_crate_dir}"
      "MOQ_TARGET_DIR;${MOQ_CARGO_TARGET_DIR}")
    list(GET _pair 0 _k)
    list(GET _pair 1 _v)
    string(APPEND _content "set(${_k} [==[${_v}]==])\n")
  endforeach()
  string(APPEND _content "set(MOQ_ENV [==[${_env}]==])\n")
  string(APPEND _content "set(MOQ_FEATURES [==[${features}]==])\n")
  string(APPEND _content "set(MOQ_EXPECTED_NATIVE_LIBS [==[${native_libs}]==])\n")
  set(_old "")
  if(EXISTS "${_params}")
    file(READ "${_params}" _old)
  endif()
  if(NOT _old STREQUAL _content)
    file(WRITE "${_params}" "${_content}")
  endif()

  add_custom_command(
    OUTPUT "${_stamp}"
    BYPRODUCTS "${_lib}" ${_generated_headers}
    COMMAND "${CMAKE_COMMAND}" "-DMOQ_PARAMS=${_params}" "-DMOQ_PROFILE=${_profile}"
            -P "${_MOQ_RUST_DIR}/MoqCargoBuild.cmake"
    COMMAND "${CMAKE_COMMAND}" -E touch "${_stamp}"
    DEPENDS ${_deps} "${_params}" "${_MOQ_RUST_DIR}/MoqCargoBuild.cmake"
    WORKING_DIRECTORY "${_crate_dir}"
    COMMENT "Building the Rust crate moq-ffi with cargo"
    USES_TERMINAL
    VERBATIM)
  add_custom_target(cargo-build_moq_ffi ALL DEPENDS "${_stamp}")

  add_library(moq_ffi-static STATIC IMPORTED GLOBAL)
  add_dependencies(moq_ffi-static cargo-build_moq_ffi)
  if(_multi)
    foreach(_cfg IN LISTS CMAKE_CONFIGURATION_TYPES)
      string(TOUPPER "${_cfg}" _CFG)
      if(_cfg STREQUAL "Debug")
        set(_d debug)
      else()
        set(_d release)
      endif()
      set_property(TARGET moq_ffi-static PROPERTY
        IMPORTED_LOCATION_${_CFG} "${MOQ_CARGO_TARGET_DIR}/${_d}/${_lib_name}")
    endforeach()
    set_property(TARGET moq_ffi-static PROPERTY
      IMPORTED_LOCATION "${MOQ_CARGO_TARGET_DIR}/release/${_lib_name}")
  else()
    set_property(TARGET moq_ffi-static PROPERTY IMPORTED_LOCATION "${_lib}")
  endif()
  set_target_properties(moq_ffi-static PROPERTIES
    IMPORTED_LINK_INTERFACE_LANGUAGES CXX
    INTERFACE_LINK_LIBRARIES "${native_libs}")

  add_library(moq_ffi INTERFACE)
  target_link_libraries(moq_ffi INTERFACE moq_ffi-static)

  add_custom_target(cargo-clean_moq_ffi
    COMMAND "${MOQ_CARGO_EXECUTABLE}" clean --manifest-path "${manifest}"
            --target-dir "${MOQ_CARGO_TARGET_DIR}"
    USES_TERMINAL VERBATIM)
endfunction()

# --- entry point -----------------------------------------------------------------

function(moq_add_rust_crate)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "MANIFEST_PATH;CXXFLAGS" "FEATURES")
  if(NOT ARG_MANIFEST_PATH)
    message(FATAL_ERROR "moq_add_rust_crate: MANIFEST_PATH is required")
  endif()
  if(NOT EXISTS "${ARG_MANIFEST_PATH}")
    message(FATAL_ERROR "moq: ${ARG_MANIFEST_PATH} does not exist")
  endif()
  if(TARGET moq_ffi OR TARGET moq_ffi-static)
    message(FATAL_ERROR "moq: a target named moq_ffi already exists; moq's Rust crate can be imported once per build")
  endif()

  _moq_find_cargo()
  _moq_rust_native_libs(_native_libs)

  # build.rs copies the headers cxx generates here. Nothing public includes them
  # (they are for tools that index the library's C++), so no target uses them.
  set(MOQ_CXX_GENERATED_DIR "${CMAKE_CURRENT_BINARY_DIR}/cxx-generated")
  # One header per bridge (src/bridge/<concept>.rs.h), next to cxx's own.
  get_filename_component(_bridge_dir "${ARG_MANIFEST_PATH}" DIRECTORY)
  file(GLOB _bridges RELATIVE "${_bridge_dir}" "${_bridge_dir}/src/bridge/*.rs")
  list(REMOVE_ITEM _bridges "src/bridge/mod.rs")
  set(MOQ_CXX_GENERATED_HEADERS "${MOQ_CXX_GENERATED_DIR}/rust/cxx.h")
  foreach(_bridge IN LISTS _bridges)
    list(APPEND MOQ_CXX_GENERATED_HEADERS "${MOQ_CXX_GENERATED_DIR}/moq-ffi/${_bridge}.h")
  endforeach()
  _moq_find_corrosion(_use_corrosion _corrosion_version)

  if(_use_corrosion)
    message(STATUS "moq: building the Rust crate with Corrosion ${_corrosion_version}")
    _moq_import_with_corrosion("${ARG_MANIFEST_PATH}" "${ARG_CXXFLAGS}" "${ARG_FEATURES}")
    set(_importer corrosion)
  else()
    if(MOQ_CORROSION STREQUAL "OFF" OR NOT MOQ_CORROSION)
      message(STATUS "moq: building the Rust crate with the built-in cargo importer (MOQ_CORROSION=OFF)")
    else()
      message(STATUS "moq: building the Rust crate with the built-in cargo importer (no Corrosion found)")
    endif()
    _moq_import_builtin("${ARG_MANIFEST_PATH}" "${ARG_CXXFLAGS}" "${_native_libs}" "${ARG_FEATURES}")
    set(_importer builtin)
  endif()
  # Corrosion sets IMPORTED_LOCATION in a deferred call at the end of the directory;
  # the generator expression reads it at generate time (works for install(FILES)).
  set(_lib "$<TARGET_FILE:moq_ffi-static>")
  message(STATUS "moq: native libraries of the Rust static library: ${_native_libs}")

  set(MOQ_RUST_IMPORTER "${_importer}" PARENT_SCOPE)
  set(MOQ_RUST_STATIC_LIB "${_lib}" PARENT_SCOPE)
  set(MOQ_RUST_STATIC_LIB_NAME "${CMAKE_STATIC_LIBRARY_PREFIX}moq_ffi${CMAKE_STATIC_LIBRARY_SUFFIX}" PARENT_SCOPE)
  set(MOQ_RUST_NATIVE_LIBS "${_native_libs}" PARENT_SCOPE)
  set(MOQ_CXX_GENERATED_DIR "${MOQ_CXX_GENERATED_DIR}" PARENT_SCOPE)
endfunction()
