#include <fstream>
#include <sstream>
#include <string>

#include "core/config_doc.h"
#include "gtest/gtest.h"

namespace basin {
namespace {

TEST(DocsTest, OptimizerReferenceIsUpToDate) {
  std::ifstream in(BASIN_SOURCE_DIR "/docs/optimizers.md");
  ASSERT_TRUE(in) << "docs/optimizers.md is missing";
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), OptimizerReferenceMarkdown())
      << "docs/optimizers.md is stale: run build/release/tools/basin-docs > docs/optimizers.md";
}

}  // namespace
}  // namespace basin
