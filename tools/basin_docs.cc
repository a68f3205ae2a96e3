// Prints docs/optimizers.md: `basin-docs > docs/optimizers.md`.
#include <cstdio>

#include "core/config_doc.h"

int main() {
  const std::string doc = basin::OptimizerReferenceMarkdown();
  std::fwrite(doc.data(), 1, doc.size(), stdout);
  return 0;
}
