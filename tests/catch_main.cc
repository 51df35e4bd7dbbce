// The shared Catch2 main: compiled once, linked into every test executable.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
