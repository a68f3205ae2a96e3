#ifndef BASIN_SERVER_FLAG_SPELLING_H_
#define BASIN_SERVER_FLAG_SPELLING_H_

#include <string>
#include <vector>

namespace basin {

// argv with `--metrics-listen=…` spelt `--metrics_listen=…`: Abseil flag names are identifiers,
// and people type either spelling. Only a flag's name changes (what follows '-' or '--' and a
// letter, up to '='); values, negative numbers and everything after a lone `--` are kept.
// The returned pointers (nullptr-terminated, like argv) point into `storage`.
std::vector<char*> WithUnderscoredFlagNames(int argc, char** argv, std::vector<std::string>& storage);

}  // namespace basin

#endif  // BASIN_SERVER_FLAG_SPELLING_H_
