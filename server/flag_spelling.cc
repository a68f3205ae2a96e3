#include "server/flag_spelling.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace basin {

std::vector<char*> WithUnderscoredFlagNames(int argc, char** argv, std::vector<std::string>& storage) {
  storage.assign(argv, argv + argc);
  for (std::string& arg : storage) {
    if (arg == "--") break;
    if (arg.empty() || arg[0] != '-') continue;
    const size_t start = arg.size() > 1 && arg[1] == '-' ? 2 : 1;
    if (start >= arg.size() || !absl::ascii_isalpha(static_cast<unsigned char>(arg[start]))) continue;
    const size_t end = std::min(arg.find('='), arg.size());
    std::replace(arg.begin() + static_cast<std::ptrdiff_t>(start), arg.begin() + static_cast<std::ptrdiff_t>(end), '-',
                 '_');
  }
  std::vector<char*> pointers;
  for (std::string& arg : storage) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace basin
