// feed/http_fetch.cc — see http_fetch.h.
#include "feed/http_fetch.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "base/text.h"
#include "base/version.h"
#include "policy/import/gzip.h"

namespace sekisho::feed {

namespace {

// curl_global_init is not thread-safe; sekisho-feed calls fetch from one thread, but once is
// the rule for the process.
void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw FetchError("libcurl: cannot initialise");
  });
}

struct Download {
  std::string body;
  uint64_t max_bytes = 0;
  bool too_big = false;
  // The headers of the last response (a redirect's are dropped when the next status line comes).
  std::string etag, last_modified, content_encoding, status_text;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* d = static_cast<Download*>(user);
  const size_t bytes = size * n;
  if (d->body.size() + bytes > d->max_bytes) {
    d->too_big = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  d->body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* d = static_cast<Download*>(user);
  const size_t bytes = size * n;
  std::string_view line(data, bytes);
  line = base::trim(line, " \t\r\n");
  if (line.starts_with("HTTP/")) {  // a new response (after a redirect or 100 Continue)
    d->etag.clear();
    d->last_modified.clear();
    d->content_encoding.clear();
    const size_t sp = line.find(' ');
    d->status_text = sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1));
    d->body.clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  const std::string name = base::ascii_lower(line.substr(0, colon));
  const std::string value(base::trim(line.substr(colon + 1), " \t"));
  if (name == "etag") d->etag = value;
  else if (name == "last-modified") d->last_modified = value;
  else if (name == "content-encoding") d->content_encoding = base::ascii_lower(value);
  return bytes;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

std::string bytes_text(uint64_t bytes) { return std::to_string(bytes) + " bytes"; }

}  // namespace

FetchResult fetch(const FetchRequest& req) {
  global_init();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) throw FetchError("libcurl: cannot create a handle");
  CURL* c = curl.get();
  Download d;
  d.max_bytes = req.max_bytes;
  char error[CURL_ERROR_SIZE] = "";
  const bool https = req.url.starts_with("https://");
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&](const std::string& h) { headers.reset(curl_slist_append(headers.release(), h.c_str())); };
  // We unpack gzip ourselves, checked to its end (policy/import/gzip.h); curl's own decoder
  // takes a body cut inside the gzip stream for a whole one.
  add_header("Accept-Encoding: gzip");
  if (!req.etag.empty()) add_header("If-None-Match: " + req.etag);
  if (!req.last_modified.empty()) add_header("If-Modified-Since: " + req.last_modified);
  const std::string agent = std::string("sekisho-feed/") + kVersion;
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Redirects are followed (mirrors, CDNs), never from https down to http.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.timeout_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.download_timeout_ms));
  // A stall: fewer than 1 byte/s for timeout_ms (curl counts whole seconds).
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max<uint32_t>(1, (req.timeout_ms + 999) / 1000)));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
  const CURLcode rc = curl_easy_perform(c);
  if (d.too_big) throw FetchError("the download exceeds limits.max_bytes (" + bytes_text(req.max_bytes) + ")");
  if (rc != CURLE_OK) {
    std::string why = error[0] ? error : curl_easy_strerror(rc);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CONNECT_ERROR)
      why = "TLS: " + why + (req.ca_file.empty() ? " (verified against the system's CAs)" : " (verified against " + req.ca_file + ")");
    throw FetchError(why);
  }
  FetchResult r;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (char* url = nullptr; curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url) r.effective_url = url;
  r.wire_bytes = d.body.size();
  r.etag = d.etag;
  r.last_modified = d.last_modified;
  if (r.status == 304) return r;
  if (r.status < 200 || r.status > 299) {
    std::string status = d.status_text.empty() ? std::to_string(r.status) : d.status_text;
    throw FetchError("HTTP " + status + " (" + std::to_string(d.body.size()) + " bytes, not the list)");
  }
  // Content-Encoding gzip, then a body that is itself gzip (a `.gz` list): each is unpacked
  // whole and checked.
  if (!d.content_encoding.empty() && d.content_encoding != "identity") {
    if (d.content_encoding != "gzip" && d.content_encoding != "x-gzip")
      throw FetchError("Content-Encoding '" + d.content_encoding + "' (we asked for gzip or nothing)");
    std::string out;
    if (std::string why = policy::gunzip(d.body, out, req.max_bytes); !why.empty())
      throw FetchError("Content-Encoding gzip: " + why);
    d.body = std::move(out);
    r.gzip = true;
  }
  if (policy::is_gzip(d.body)) {
    std::string out;
    if (std::string why = policy::gunzip(d.body, out, req.max_bytes); !why.empty()) throw FetchError("gzip: " + why);
    d.body = std::move(out);
    r.gzip = true;
  }
  r.body = std::move(d.body);
  return r;
}

}  // namespace sekisho::feed
