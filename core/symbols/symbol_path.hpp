// The symbol path as Microsoft's debuggers define it (docs: "Symbol path for
// Windows debuggers", ".sympath", ".symfix"), and finding a PDB along it:
//
//   C:\syms;srv*C:\cache*https://msdl.microsoft.com/download/symbols;cache*D:\c;E:\more
//
// - a plain folder: `DIR/name.pdb` (flat) or the store layout `DIR/name.pdb/KEY/name.pdb`
//   (KEY = GUID and age in hex, PdbIdentity::store_key)
// - `srv*URL` (default cache), `srv*CACHE*URL`, `srv*C1*C2*URL` (tiers, nearest first),
//   `srv*DIR` (a store folder, no download); `symsrv*symsrv.dll*...` is taken as `srv*...`
// - `cache*DIR` (or `cache*`): what entries after it find on a server is kept in DIR too
// Entries are separated by ';'. Downloads (libcurl) are bounded in size and time,
// written to a temporary file and renamed into the cache; a server's compressed
// `name.pd_` (a CAB) is expanded with libmspack. Every candidate is opened and its
// GUID/age checked: a mismatched or corrupt file is refused and the search goes on.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/symbols/pdb.hpp"

namespace openkd::symbols {

/// Microsoft's public symbol server, as `.symfix` sets it.
inline constexpr std::string_view kMicrosoftSymbolServer = "https://msdl.microsoft.com/download/symbols";

struct SymbolPathEntry {
  enum class Kind { folder, server, cache };
  Kind kind = Kind::folder;
  std::string folder;               ///< folder: the folder; cache: the cache folder
  std::vector<std::string> stores;  ///< server: local store tiers, nearest first (may be empty)
  std::string url;                  ///< server: http(s) URL (empty: the last store is the source)
};

/// Splits a symbol path into entries (empty parts skipped). `default_cache` fills `srv*URL` and `cache*`.
std::vector<SymbolPathEntry> parse_symbol_path(std::string_view path, const std::string& default_cache);

/// ${XDG_CACHE_HOME:-$HOME/.cache}/openkd/symbols: the downstream store when a path names none.
std::string default_symbol_cache();

struct DownloadLimits {
  std::chrono::milliseconds deadline{60'000};  ///< per file, whole transfer
  std::uint64_t max_bytes = 1ull << 30;        ///< per file (compressed and expanded)
};

/// Fetches `url` into `destination` (temporary file, then rename). An error is one line.
std::expected<void, std::string> download_file(const std::string& url, const std::string& destination,
                                               const DownloadLimits& limits);
/// Expands the first file of the CAB `cab_path` into `destination` (temporary file, then rename).
std::expected<void, std::string> expand_cab(const std::string& cab_path, const std::string& destination,
                                            std::uint64_t max_bytes);

/// What a search found: the PDB, or why not (one line: each candidate refused and why).
struct PdbSearch {
  std::unique_ptr<PdbFile> pdb;
  std::string failure;  ///< empty if pdb is set
  std::vector<std::string> tried;  ///< every path and URL looked at, in order (for !sym noisy)
  bool downloaded = false;
};

/// Looks for `pdb_name` with `identity` along `path`. `log` (may be empty) hears each
/// path tried as it is tried ("SYMSRV:  ..." lines, as !sym noisy prints them).
PdbSearch find_pdb(const std::vector<SymbolPathEntry>& path, const std::string& pdb_name, const PdbIdentity& identity,
                   const DownloadLimits& limits, const std::function<void(const std::string&)>& log);

}  // namespace openkd::symbols
