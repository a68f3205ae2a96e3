#ifndef BASIN_CLIENT_CPP_CLI_JSON_H_
#define BASIN_CLIENT_CPP_CLI_JSON_H_

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace basin::cli {

// A JSON string literal, quotes included.
inline std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// A number that reads back to the same double; null for NaN and infinities, which JSON lacks.
inline std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  for (int precision = 15; precision < 17; ++precision) {  // the shortest that round-trips
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) return text;
  }
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

inline std::string JsonNumber(int64_t value) { return std::to_string(value); }

}  // namespace basin::cli

#endif  // BASIN_CLIENT_CPP_CLI_JSON_H_
