// admin_page.h
// The admin endpoint's one HTML page (`GET /`): live connections by state per worker, recent
// closes as a waterfall of their shutdown stages, counters by cause and initiator. It is
// self-contained (inline script and style, no fonts, no other origin; its Content-Security-Policy
// forbids anything else) and holds no data of its own: its script reads /connections, /closures
// and /metrics (one refresh at a time, two seconds apart, none while the tab is hidden), sending
// the admin token the user typed, if the endpoint has one.
//
//   response = HttpResponse(200, "OK", "text/html; charset=utf-8", AdminPageHtml(),
//                           AdminPageHeaders());
#ifndef RINGGATE_DIAG_ADMIN_PAGE_H_
#define RINGGATE_DIAG_ADMIN_PAGE_H_

#include <string_view>

namespace ringgate {

std::string_view AdminPageHtml();
// Extra response headers for the page: what it may load, and that no other site may frame it.
std::string_view AdminPageHeaders();

}  // namespace ringgate

#endif  // RINGGATE_DIAG_ADMIN_PAGE_H_
