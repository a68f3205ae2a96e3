#include "core/philox.h"

namespace basin {

// Philox4x32-10 is header-only so the noise loop can inline it. This check makes an edit that
// breaks it fail to build the library at all, not only the tests. Expected output: Random123's
// tests/kat_vectors, line "philox4x32 10 00000000 ... 00000000   6627e8d5 e169c58d bc57ac4c
// 9b00dbd8" (tests/core/philox_test.cc checks the full set).
static_assert(Philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
              std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});

}  // namespace basin
