#include "server/text_wrap.hpp"

namespace sb::server {

void append_wrapped(std::string& out, std::string_view text, std::string_view prefix,
                    std::size_t width) {
  std::string line(prefix);
  std::size_t start = 0;
  while (start < text.size()) {
    auto space = text.find(' ', start);
    auto word = text.substr(
        start, space == std::string_view::npos ? std::string_view::npos : space - start);
    start = space == std::string_view::npos ? text.size() : space + 1;
    if (line.size() > prefix.size() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = prefix;
    }
    if (line.size() > prefix.size()) {
      line += ' ';
    }
    line += word;
  }
  out += line + "\n";
}

}  // namespace sb::server
