#include "result.hpp"

#include <cmath>
#include <cstdio>

#include "clock.hpp"

namespace bench {

namespace {

std::string quote(const std::string& v) {
  std::string e = "\"";
  for (char ch : v) {
    if (ch == '"' || ch == '\\') {
      e.push_back('\\');
      e.push_back(ch);
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      e += fmt("\\u%04x", ch);
    } else {
      e.push_back(ch);
    }
  }
  return e + "\"";
}

}  // namespace

std::string run_result::json() const {
  std::string s = "{\n";
  for (size_t i = 0; i < items_.size(); ++i) {
    const auto& [k, v] = items_[i];
    s += "  " + quote(k) + ": ";
    if (const auto* d = std::get_if<double>(&v))
      s += std::isfinite(*d) ? fmt("%.6g", *d) : "null";
    else
      s += quote(std::get<std::string>(v));
    s += i + 1 < items_.size() ? ",\n" : "\n";
  }
  return s + "}\n";
}

bool run_result::write(const std::string& path) const {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f)
    return false;
  std::string s = json();
  std::fwrite(s.data(), 1, s.size(), f);
  return std::fclose(f) == 0;
}

}  // namespace bench
