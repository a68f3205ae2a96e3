#ifndef BASIN_CORE_CONFIG_DOC_H_
#define BASIN_CORE_CONFIG_DOC_H_

#include <string>

namespace basin {

// docs/optimizers.md, written from the field tables: every hyper-parameter of every optimizer
// with its default, valid range and meaning. A test keeps the committed file equal to this.
std::string OptimizerReferenceMarkdown();

}  // namespace basin

#endif  // BASIN_CORE_CONFIG_DOC_H_
