// The symbol path, the symbol store layout and the symbol server client.
// Facts: Microsoft's "Symbol path for Windows debuggers" and "Symbol Store
// Folder Tree" pages (srv*/cache* syntax; name.pdb/GUIDAGE/name.pdb; name.pd_).
#include "core/symbols/symbol_path.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <system_error>

#include <curl/curl.h>
#include <fmt/format.h>
#include <mspack.h>
#include <unistd.h>

namespace openkd::symbols {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '"')) s.remove_suffix(1);
  return std::string(s);
}

bool iprefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

bool is_url(std::string_view s) { return iprefix(s, "http://") || iprefix(s, "https://"); }

std::string temp_name(const std::string& destination) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("{}.tmp{}-{}", destination, ::getpid(), counter++);
}

struct Sink {
  std::FILE* file = nullptr;
  std::uint64_t written = 0, limit = 0;
  bool too_big = false;
};

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  if (sink->written + n > sink->limit) {
    sink->too_big = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  sink->written += n;
  return std::fwrite(data, 1, n, sink->file);
}

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Where a PDB sits in a store.
std::string store_path(const std::string& store, const std::string& name, const PdbIdentity& id) {
  return (fs::path(store) / name / id.store_key() / name).string();
}

}  // namespace

std::string default_symbol_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return (fs::path(xdg) / "openkd" / "symbols").string();
  if (const char* home = std::getenv("HOME"); home && *home)
    return (fs::path(home) / ".cache" / "openkd" / "symbols").string();
  return (fs::temp_directory_path() / "openkd-symbols").string();
}

std::vector<SymbolPathEntry> parse_symbol_path(std::string_view path, const std::string& default_cache) {
  std::vector<SymbolPathEntry> entries;
  for (const auto& raw : split(path, ';')) {
    const std::string part = trim(raw);
    if (part.empty()) continue;
    SymbolPathEntry e;
    if (iprefix(part, "srv*") || iprefix(part, "symsrv*")) {
      auto fields = split(part, '*');
      fields.erase(fields.begin());  // srv
      if (iprefix(part, "symsrv*") && !fields.empty()) fields.erase(fields.begin());  // symsrv.dll
      std::erase_if(fields, [](const std::string& f) { return trim(f).empty(); });
      e.kind = SymbolPathEntry::Kind::server;
      if (!fields.empty() && is_url(fields.back())) {
        e.url = trim(fields.back());
        fields.pop_back();
        while (!e.url.empty() && e.url.back() == '/') e.url.pop_back();
      }
      for (auto& f : fields) e.stores.push_back(trim(f));
      if (e.stores.empty() && !e.url.empty()) e.stores.push_back(default_cache);
      if (e.stores.empty()) e.stores.push_back(default_cache);
    } else if (iprefix(part, "cache*")) {
      e.kind = SymbolPathEntry::Kind::cache;
      e.folder = trim(std::string_view(part).substr(6));
      if (e.folder.empty()) e.folder = default_cache;
    } else {
      e.kind = SymbolPathEntry::Kind::folder;
      e.folder = part;
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

std::expected<void, std::string> download_file(const std::string& url, const std::string& destination,
                                               const DownloadLimits& limits) {
  curl_init_once();
  std::error_code ec;
  fs::create_directories(fs::path(destination).parent_path(), ec);
  if (ec) return std::unexpected(fmt::format("cannot create {}: {}", fs::path(destination).parent_path().string(), ec.message()));
  const std::string temp = temp_name(destination);
  Sink sink;
  sink.limit = limits.max_bytes;
  sink.file = std::fopen(temp.c_str(), "wb");
  if (!sink.file) return std::unexpected(fmt::format("cannot write {}", temp));
  CURL* curl = curl_easy_init();
  if (!curl) {
    std::fclose(sink.file);
    fs::remove(temp, ec);
    return std::unexpected("libcurl could not start a transfer");
  }
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);  // msdl redirects to its blob store
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");  // never file:, ftp: ... from a redirect
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(limits.deadline.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long>(limits.deadline.count(), 15'000)));
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits.max_bytes));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "Microsoft-Symbol-Server/10.0.0.0");
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  const bool wrote = std::fclose(sink.file) == 0;
  std::string failure;
  if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
    failure = fmt::format("{}: larger than {} bytes", url, limits.max_bytes);
  else if (rc != CURLE_OK)
    failure = fmt::format("{}: {}", url, error[0] ? error : curl_easy_strerror(rc));
  else if (status != 200)
    failure = fmt::format("{}: HTTP {}", url, status);
  else if (!wrote)
    failure = fmt::format("cannot write {}", temp);
  if (!failure.empty()) {
    fs::remove(temp, ec);
    return std::unexpected(failure);
  }
  fs::rename(temp, destination, ec);
  if (ec) {
    fs::remove(temp, ec);
    return std::unexpected(fmt::format("cannot rename into {}", destination));
  }
  return {};
}

std::expected<void, std::string> expand_cab(const std::string& cab_path, const std::string& destination,
                                            std::uint64_t max_bytes) {
  mscab_decompressor* cabd = mspack_create_cab_decompressor(nullptr);
  if (!cabd) return std::unexpected("libmspack could not start");
  std::string failure;
  mscabd_cabinet* cab = cabd->open(cabd, const_cast<char*>(cab_path.c_str()));
  const std::string temp = temp_name(destination);
  if (!cab || !cab->files) {
    failure = fmt::format("{} is not a CAB file (libmspack error {})", cab_path, cabd->last_error(cabd));
  } else if (static_cast<std::uint64_t>(cab->files->length) > max_bytes) {
    failure = fmt::format("{} expands to more than {} bytes", cab_path, max_bytes);
  } else if (int err = cabd->extract(cabd, cab->files, const_cast<char*>(temp.c_str())); err != MSPACK_ERR_OK) {
    failure = fmt::format("cannot expand {} (libmspack error {})", cab_path, err);
  }
  if (cab) cabd->close(cabd, cab);
  mspack_destroy_cab_decompressor(cabd);
  std::error_code ec;
  if (failure.empty()) {
    fs::rename(temp, destination, ec);
    if (ec) failure = fmt::format("cannot rename into {}", destination);
  }
  if (!failure.empty()) {
    fs::remove(temp, ec);
    return std::unexpected(failure);
  }
  return {};
}

PdbSearch find_pdb(const std::vector<SymbolPathEntry>& path, const std::string& pdb_name, const PdbIdentity& identity,
                   const DownloadLimits& limits, const std::function<void(const std::string&)>& log) {
  PdbSearch search;
  std::vector<std::string> refusals;
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  // Opens a candidate file; true if it is the PDB wanted.
  auto try_file = [&](const std::string& file, bool remove_if_bad) -> bool {
    search.tried.push_back(file);
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      say(fmt::format("DBGHELP: {} - file not found", file));
      return false;
    }
    auto pdb = PdbFile::open(file);
    if (!pdb) {
      say(fmt::format("DBGHELP: {} - {}", file, pdb.error()));
      refusals.push_back(fmt::format("corrupt {} ({})", file, pdb.error()));
      if (remove_if_bad) fs::remove(file, ec);
      return false;
    }
    if ((*pdb)->identity() != identity) {
      say(fmt::format("DBGHELP: {} - mismatched pdb (GUID {} age {})", file, (*pdb)->identity().guid_string(),
                      (*pdb)->identity().age));
      refusals.push_back(fmt::format("mismatched {} (has GUID {} age {})", file, (*pdb)->identity().guid_string(),
                                     (*pdb)->identity().age));
      if (remove_if_bad) fs::remove(file, ec);
      return false;
    }
    say(fmt::format("DBGHELP: {} - OK", file));
    search.pdb = std::move(*pdb);
    return true;
  };

  std::string cache_folder;  // set by cache*: server finds are stored there as well
  for (const auto& e : path) {
    switch (e.kind) {
      case SymbolPathEntry::Kind::cache:
        cache_folder = e.folder;
        if (try_file(store_path(e.folder, pdb_name, identity), false)) return search;
        break;
      case SymbolPathEntry::Kind::folder:
        if (try_file((fs::path(e.folder) / pdb_name).string(), false)) return search;
        if (try_file(store_path(e.folder, pdb_name, identity), false)) return search;
        break;
      case SymbolPathEntry::Kind::server: {
        for (const auto& store : e.stores)
          if (try_file(store_path(store, pdb_name, identity), false)) return search;
        if (e.url.empty()) break;
        const std::string target = store_path(!e.stores.empty() ? e.stores.front() : cache_folder, pdb_name, identity);
        const std::string url = fmt::format("{}/{}/{}/{}", e.url, pdb_name, identity.store_key(), pdb_name);
        search.tried.push_back(url);
        say(fmt::format("SYMSRV:  HTTPGET: {}", url));
        auto got = download_file(url, target, limits);
        if (!got && pdb_name.size() > 1) {
          say(fmt::format("SYMSRV:  {}", got.error()));
          // The compressed form: the name's last letter replaced by '_'.
          std::string packed = pdb_name;
          packed.back() = '_';
          const std::string packed_url = fmt::format("{}/{}/{}/{}", e.url, pdb_name, identity.store_key(), packed);
          const std::string packed_file = target.substr(0, target.size() - 1) + "_";
          search.tried.push_back(packed_url);
          say(fmt::format("SYMSRV:  HTTPGET: {}", packed_url));
          auto packed_got = download_file(packed_url, packed_file, limits);
          if (packed_got) {
            got = expand_cab(packed_file, target, limits.max_bytes);
            std::error_code ec;
            fs::remove(packed_file, ec);
          } else {
            say(fmt::format("SYMSRV:  {}", packed_got.error()));
            refusals.push_back(fmt::format("not on {} ({})", e.url, got.error()));
            break;
          }
        }
        if (!got) {
          say(fmt::format("SYMSRV:  {}", got.error()));
          refusals.push_back(got.error());
          break;
        }
        say(fmt::format("SYMSRV:  {} from {}: downloaded", target, e.url));
        if (try_file(target, true)) {
          search.downloaded = true;
          // cache*DIR before this entry keeps a copy too.
          if (!cache_folder.empty() && (e.stores.empty() || cache_folder != e.stores.front())) {
            const std::string copy = store_path(cache_folder, pdb_name, identity);
            std::error_code ec;
            fs::create_directories(fs::path(copy).parent_path(), ec);
            if (!ec) fs::copy_file(target, copy, fs::copy_options::overwrite_existing, ec);
          }
          return search;
        }
        break;
      }
    }
  }
  if (refusals.empty())
    search.failure = path.empty() ? "the symbol path is empty" : fmt::format("{} not found", pdb_name);
  else {
    search.failure = refusals.front();
    for (std::size_t i = 1; i < refusals.size(); ++i) search.failure += "; " + refusals[i];
  }
  return search;
}

}  // namespace openkd::symbols
