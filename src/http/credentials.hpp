#pragma once
// Where an HTTP request carries credentials: `Authorization: Bearer`, a cookie, or the query
// (`?access_token=` for EventSource, which cannot set headers; `?ticket=`).
#include <boost/beast/http/fields.hpp>
#include <boost/url/url_view.hpp>
#include <string>
#include <string_view>

#include "auth/authority.hpp"

namespace sb::http {

/// The credentials in a request. The views point into `headers`, or into `storage` (decoded query
/// values), which must outlive them.
auth::credentials credentials_of(const boost::beast::http::fields& headers,
                                 boost::urls::url_view url, std::string_view cookie_name,
                                 std::string (&storage)[2]);

/// The value of cookie `name` in the request's Cookie headers, or empty.
std::string_view cookie_of(const boost::beast::http::fields& headers, std::string_view name);

}  // namespace sb::http
