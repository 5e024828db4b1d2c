#include "report_svg.hpp"

#include <algorithm>
#include <cmath>

#include "clock.hpp"

namespace bench {

namespace {

constexpr int label_width = 470;  // room for the row labels
constexpr int plot_width = 430;
constexpr int row_height = 26;
constexpr int top_margin = 64;
constexpr int svg_width = label_width + plot_width + 70;

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&')
      o += "&amp;";
    else if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else
      o.push_back(c);
  }
  return o;
}

std::string color(const std::string& target) {
  if (target == "switchboard")
    return "#2563eb";
  if (target == "nchan")
    return "#ea580c";
  return "#16a34a";
}

std::string head(const std::string& title, int height) {
  return fmt(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d "
      "%d\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
      "<text x=\"12\" y=\"24\" font-size=\"16\" font-weight=\"bold\" fill=\"#111\">%s</text>\n",
      svg_width, height, svg_width, height, esc(title).c_str());
}

std::string number(double v) {
  if (v >= 100)
    return fmt("%.0f", v);
  if (v >= 10)
    return fmt("%.1f", v);
  if (v >= 1)
    return fmt("%.2f", v);
  return fmt("%.3f", v);
}

}  // namespace

std::string dot_chart(const std::string& title, const std::vector<dot_row>& rows) {
  double lo = 1e18, hi = 0;
  for (const auto& r : rows)
    for (double v : r.ms)
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (hi <= 0) {
    lo = 0.1;
    hi = 1;
  }
  double l0 = std::floor(std::log10(lo)), l1 = std::ceil(std::log10(hi));
  if (l1 <= l0)
    l1 = l0 + 1;
  auto x = [&](double v) {
    double l = std::log10(std::max(v, std::pow(10.0, l0)));
    return label_width + (l - l0) / (l1 - l0) * plot_width;
  };
  int height = top_margin + static_cast<int>(rows.size()) * row_height + 40;
  std::string s = head(title, height);
  static const char* names[5] = {"p50", "p90", "p99", "p99.9", "max"};
  static const char* fills[5] = {"#111827", "#6b7280", "#dc2626", "#9333ea", "#f59e0b"};
  for (int i = 0; i < 5; ++i) {
    int lx = 12 + i * 90;
    s +=
        fmt("<circle cx=\"%d\" cy=\"44\" r=\"5\" fill=\"%s\"/><text x=\"%d\" y=\"48\" "
            "fill=\"#333\">%s</text>\n",
            lx + 5, fills[i], lx + 14, names[i]);
  }
  int y_end = top_margin + static_cast<int>(rows.size()) * row_height;
  for (double l = l0; l <= l1; l += 1) {
    double gx = x(std::pow(10.0, l));
    s += fmt("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e5e7eb\"/>\n", gx,
             top_margin - 6, gx, y_end);
    s += fmt("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%s ms</text>\n", gx,
             y_end + 16, number(std::pow(10.0, l)).c_str());
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    int y = top_margin + static_cast<int>(i) * row_height + row_height / 2;
    if (i % 2 == 0)
      s += fmt("<rect x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f9fafb\"/>\n",
               y - row_height / 2, svg_width, row_height);
    s += fmt("<rect x=\"6\" y=\"%d\" width=\"5\" height=\"14\" fill=\"%s\"/>\n", y - 7,
             color(r.target).c_str());
    s += fmt("<text x=\"16\" y=\"%d\" fill=\"#111\">%s</text>\n", y + 4, esc(r.label).c_str());
    s +=
        fmt("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\" "
            "opacity=\"0.5\"/>\n",
            x(r.ms[0]), y, x(r.ms[4]), y, color(r.target).c_str());
    for (int k = 0; k < 5; ++k)
      if (r.ms[static_cast<size_t>(k)] > 0)
        s += fmt(
            "<circle cx=\"%.1f\" cy=\"%d\" r=\"5\" fill=\"%s\"><title>%s %s ms</title></circle>\n",
            x(r.ms[static_cast<size_t>(k)]), y, fills[k], names[k],
            number(r.ms[static_cast<size_t>(k)]).c_str());
    s += fmt("<text x=\"%.1f\" y=\"%d\" fill=\"#333\">%s</text>\n", x(r.ms[4]) + 8, y + 4,
             number(r.ms[2]).c_str());
  }
  s += fmt("<text x=\"%d\" y=\"%d\" fill=\"#555\">number at the right: p99</text>\n", label_width,
           height - 6);
  return s + "</svg>\n";
}

std::string bar_chart(const std::string& title, const std::string& unit,
                      const std::vector<bar_row>& rows) {
  double hi = 0;
  for (const auto& r : rows)
    hi = std::max(hi, r.value);
  if (hi <= 0)
    hi = 1;
  int height = top_margin + static_cast<int>(rows.size()) * row_height + 20;
  std::string s = head(title, height);
  bool pushpin =
      std::any_of(rows.begin(), rows.end(), [](const bar_row& r) { return r.target == "pushpin"; });
  s += "<text x=\"12\" y=\"48\" fill=\"#333\">";
  s += "<tspan fill=\"#2563eb\">■</tspan> Switchboard   <tspan fill=\"#ea580c\">■</tspan> nginx + "
       "nchan";
  if (pushpin)
    s += "   <tspan fill=\"#16a34a\">■</tspan> Pushpin";
  s += "</text>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    int y = top_margin + static_cast<int>(i) * row_height;
    double w = r.value > 0 ? r.value / hi * plot_width : 0;
    s += fmt("<text x=\"12\" y=\"%d\" fill=\"#111\">%s</text>\n", y + 17, esc(r.label).c_str());
    s += fmt("<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>\n", label_width,
             y + 3, w, color(r.target).c_str());
    s += fmt("<text x=\"%.1f\" y=\"%d\" fill=\"#111\">%s %s</text>\n", label_width + w + 6, y + 17,
             r.value >= 0 ? number(r.value).c_str() : "–", esc(unit).c_str());
  }
  return s + "</svg>\n";
}

}  // namespace bench
