// The token file's parser and the token lookup, without a server (the start-up errors and the
// metadata check over the wire: security_test).
#include "server/auth.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

using ::testing::HasSubstr;

TEST(TokenMapTest, OnlyAWholeTokenFindsItsTenant) {
  auto tokens = TokenMap::Parse(
      "  # two tenants, alice with two tokens\n"
      "alice 0123456789abcdef0123\n"
      "\t\n"
      "bob\t\tfedcba9876543210fedc  \r\n"
      "alice 0123456789abcdef0124\n",
      "tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 3);
  auto tenant = [&](const std::string& token) -> std::string {
    const std::string* found = tokens->TenantOf(token);
    return found == nullptr ? "(none)" : *found;
  };
  EXPECT_EQ(tenant("0123456789abcdef0123"), "alice");
  EXPECT_EQ(tenant("0123456789abcdef0124"), "alice");
  EXPECT_EQ(tenant("fedcba9876543210fedc"), "bob");  // the \r of a CRLF file is not part of it
  EXPECT_EQ(tenant("0123456789abcdef012"), "(none)");     // a prefix
  EXPECT_EQ(tenant("0123456789abcdef01234"), "(none)");   // an extension
  EXPECT_EQ(tenant("0123456789ABCDEF0123"), "(none)");    // tokens are case-sensitive
  EXPECT_EQ(tenant(std::string("0123456789abcdef0123\0", 21)), "(none)");
  EXPECT_EQ(tenant(""), "(none)");
}

TEST(TokenMapTest, ErrorsNameTheSourceAndTheLine) {
  const auto error = [](const std::string& text) { return std::string(TokenMap::Parse(text, "f").status().message()); };
  EXPECT_EQ(error("\n\nbob x\n"), "f line 3: the token of tenant 'bob' is 1 characters long; it must be 16-1024 "
                                  "(e.g. `openssl rand -hex 32`)");
  EXPECT_THAT(error(std::string("a") + std::string(65, 'b') + " 0123456789abcdef0123"), HasSubstr("must be 1-64"));
  EXPECT_THAT(error("bob " + std::string(1025, 't')), HasSubstr("is 1025 characters long"));
  EXPECT_THAT(error("b\xc3\xb6" "b 0123456789abcdef0123"), HasSubstr("f line 1: tenant 'b\\303\\266b'"));
  EXPECT_EQ(error("# nothing\n"), "f holds no `tenant token` line; without tokens no call could be authenticated");
}

}  // namespace
}  // namespace basin
