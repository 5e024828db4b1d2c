#pragma once
// The files of web/, compiled into the binary (see cmake/embed_web.cmake).
#include <string_view>

namespace sb::server {

std::string_view demo_html();
std::string_view client_js();
std::string_view client_types();
std::string_view admin_html();  // GET /admin

}  // namespace sb::server
