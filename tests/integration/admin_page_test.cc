// The admin page (GET / on the admin endpoint) in a real browser: headless Chromium from Debian
// loads it against a running ringgate, runs its script (which reads /connections, /closures and
// /metrics), and the test reads the rendered DOM: one waterfall row per recent close with that
// close's cause, the counters by cause, and a close selected by its link showing its record.
// A screenshot is saved in the build folder (admin-page.png).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "harness.h"

namespace ringgate::testing {
namespace {

std::string Chromium(const std::string& args) {
  return "chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
         "--hide-scrollbars --user-data-dir=" +
         CertificateDir() + "/chromium-profile --virtual-time-budget=5000 " + args + " 2>/dev/null";
}

// Each "cause" in /closures' JSON, counted.
std::map<std::string, int> CausesIn(const std::string& json) {
  std::map<std::string, int> causes;
  const std::regex cause("\"cause\":\"([a-z_]+)\"");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), cause);
       it != std::sregex_iterator(); ++it) {
    ++causes[(*it)[1]];
  }
  return causes;
}

TEST(AdminPageTest, HeadlessChromiumRendersOneWaterfallRowPerRecentCloseWithItsCause) {
  DemoBackend backend;
  ASSERT_TRUE(backend.Start());
  ProxyUnderTest proxy({"--handshake-timeout=1s", "--threads=2"}, backend.port());
  ASSERT_TRUE(proxy.Start());
  // Three ways to end: two clients that close cleanly after a request, and one that connects
  // and never says a word (the handshake deadline closes it: cause timeout).
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(RunCommand("curl -sk -o /dev/null -w '%{http_code}' " + proxy.Url("/")).output,
              "200");
  }
  ASSERT_EQ(
      RunCommand("python3 -c 'import socket,time; s=socket.create_connection((\"127.0.0.1\"," +
                 std::to_string(proxy.port()) + ")); s.recv(1)' ; echo done")
          .output,
      "done\n");
  ASSERT_TRUE(WaitUntil([&] { return CausesIn(proxy.Admin("/closures")).size() == 2; },
                        std::chrono::seconds(5), "two causes among the closes"));
  const std::string closures = proxy.Admin("/closures");
  const std::map<std::string, int> expected = CausesIn(closures);
  ASSERT_EQ(expected.at("timeout"), 1) << closures;

  const std::string page_url = "http://127.0.0.1:" + std::to_string(proxy.admin_port()) + "/";
  const CommandResult dom = RunCommand(Chromium("--dump-dom " + page_url));
  ASSERT_NE(dom.output.find("data-loaded=\"true\""), std::string::npos)
      << "the page's script never finished a refresh:\n"
      << dom.output.substr(0, 2000);
  std::map<std::string, int> rendered;
  const std::regex row(
      "class=\"close-row[^\"]*\" data-conn=\"([0-9]+-[0-9]+)\" data-cause=\"([a-z_]+)\"");
  for (auto it = std::sregex_iterator(dom.output.begin(), dom.output.end(), row);
       it != std::sregex_iterator(); ++it) {
    ++rendered[(*it)[2]];
  }
  EXPECT_EQ(rendered, expected) << "one row per close in /closures, each with its cause";
  // The counters come from /metrics: the timeout is counted under its cause and initiator.
  EXPECT_NE(dom.output.find("<tr data-key=\"timeout\">"), std::string::npos);
  EXPECT_NE(dom.output.find("<tr data-key=\"server_timeout\">"), std::string::npos);

  // A link to one close selects it and shows its full record.
  const std::smatch timeout_row = [&] {
    std::smatch m;
    std::regex_search(dom.output, m,
                      std::regex("data-conn=\"([0-9]+-[0-9]+)\" data-cause=\"timeout\""));
    return m;
  }();
  ASSERT_FALSE(timeout_row.empty());
  const std::string conn = timeout_row[1];
  const CommandResult selected =
      RunCommand(Chromium("--dump-dom '" + page_url + "#conn=" + conn + "'"));
  const size_t detail = selected.output.find("id=\"detail\"");
  ASSERT_NE(detail, std::string::npos);
  EXPECT_NE(selected.output.find("\"conn\": \"" + conn + "\"", detail), std::string::npos)
      << selected.output.substr(detail, 400);
  EXPECT_NE(selected.output.find("\"initiator\": \"server_timeout\"", detail), std::string::npos);

  const std::string screenshot = std::string(RINGGATE_BUILD_DIR) + "/admin-page.png";
  std::filesystem::remove(screenshot);
  RunCommand(Chromium("--window-size=1200,900 --screenshot=" + screenshot + " '" + page_url +
                      "#conn=" + conn + "'"));
  ASSERT_TRUE(std::filesystem::exists(screenshot));
  EXPECT_GT(std::filesystem::file_size(screenshot), 10'000u);
}

// The page is code without data: served without the token, with a policy that forbids loading
// anything from elsewhere; the data it reads still needs the token.
TEST(AdminPageTest, PageNeedsNoTokenButItsDataDoesAndNothingExternalMayLoad) {
  const std::string token = "0123456789abcdef0123456789abcdef";
  ProxyUnderTest proxy({"--admin-token=" + token}, FreePort());  // no request reaches a backend
  ASSERT_TRUE(proxy.Start());
  const std::string base = "http://127.0.0.1:" + std::to_string(proxy.admin_port());
  const CommandResult page = RunCommand("curl -s -i " + base + "/");
  EXPECT_EQ(page.output.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(page.output.find("Content-Security-Policy: default-src 'none'; script-src "
                             "'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self';"),
            std::string::npos);
  EXPECT_EQ(page.output.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.output.find("href=\"http"), std::string::npos);
  EXPECT_EQ(RunCommand("curl -s -o /dev/null -w '%{http_code}' " + base + "/closures").output,
            "401");
  EXPECT_EQ(RunCommand("curl -s -o /dev/null -w '%{http_code}' -X POST " + base + "/").output,
            "401");
}

}  // namespace
}  // namespace ringgate::testing
