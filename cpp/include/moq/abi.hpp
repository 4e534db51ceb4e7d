// moq/abi.hpp — refuses to compile where the C++ standard library's layout is
// not the one moq's own C++ was compiled with.
//
// moq's C++ (the API implementation and the cxx glue) is compiled inside the
// Rust build by cxx-build, with the toolchain's default standard library:
// libstdc++, its C++11 ABI, no debug mode. A program that includes these
// headers under another layout (std::string, std::function and std::vector
// cross the API by value) would corrupt memory at the first call, so it is
// stopped here, at compile time, with the reason. The library's own CMake
// build refuses the same flags at configure time.
#pragma once

#include <cstddef>  // defines the macros checked below

#if defined(_LIBCPP_VERSION)
#error "moq: this translation unit uses libc++ (-stdlib=libc++), but moq's C++ is built against libstdc++; std::string and std::function would not match. Build it with libstdc++."
#endif

#if defined(__GLIBCXX__) && defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI == 0
#error "moq: this translation unit uses the old libstdc++ ABI (_GLIBCXX_USE_CXX11_ABI=0), but moq's C++ is built with the C++11 ABI; std::string would not match. Remove -D_GLIBCXX_USE_CXX11_ABI=0 for the code that includes moq."
#endif

#if defined(_GLIBCXX_DEBUG)
#error "moq: this translation unit uses the libstdc++ debug mode (_GLIBCXX_DEBUG), which changes the layout of std::vector and others, but moq's C++ is built without it. Remove -D_GLIBCXX_DEBUG for the code that includes moq (-D_GLIBCXX_ASSERTIONS keeps the checks without the layout change)."
#endif
