#include "remote/admission.hpp"

#include <fmt/format.h>

namespace openkd::remote {

std::string source_of(std::string_view peer) {
  // Peer names come from transport.cpp: "tcp 1.2.3.4:port", "ssl [::1]:port",
  // "npipe pid 42", "com /dev/ttyS0".
  for (std::string_view kind : {"tcp ", "ssl "}) {
    if (peer.substr(0, kind.size()) != kind) continue;
    std::string_view rest = peer.substr(kind.size());
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos) rest = rest.substr(0, colon);
    return std::string(rest);
  }
  return "local";
}

void PreauthSlots::Slot::release() {
  if (!counts_) return;
  if (auto it = counts_->by_source.find(source_); it != counts_->by_source.end() && --it->second == 0)
    counts_->by_source.erase(it);
  --counts_->total;
  counts_.reset();
}

std::expected<PreauthSlots::Slot, std::string> PreauthSlots::take(const std::string& source) {
  // A local source is one user's own sockets: only the total cap applies.
  std::size_t mine = 0;
  if (auto it = counts_->by_source.find(source); it != counts_->by_source.end()) mine = it->second;
  if (source != "local" && mine >= counts_->limits.per_source)
    return std::unexpected(fmt::format("too many connections from {} waiting to authenticate (limit {}); try again later",
                                       source, counts_->limits.per_source));
  if (counts_->total >= counts_->limits.total)
    return std::unexpected(fmt::format("too many connections waiting to authenticate (limit {}); try again later",
                                       counts_->limits.total));
  ++counts_->by_source[source];
  ++counts_->total;
  return Slot(counts_, source);
}

std::optional<std::string> FailureLog::record(const std::string& source, const std::string& kind, std::string line,
                                              Clock::time_point now) {
  auto [it, fresh] = windows_.try_emplace(source);
  if (fresh || now - it->second.start >= interval_) {
    // A new interval: this event is shown as it happens.
    it->second.start = now;
    it->second.held.clear();
    return line;
  }
  ++it->second.held[kind];
  return std::nullopt;
}

std::vector<std::string> FailureLog::flush(Clock::time_point now) {
  std::vector<std::string> lines;
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (now - it->second.start < interval_) {
      ++it;
      continue;
    }
    if (!it->second.held.empty()) {
      std::string counts;
      for (const auto& [kind, n] : it->second.held) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, kind);
      lines.push_back(fmt::format("openkd: from {} in the last {:g} s, also: {}", it->first,
                                  static_cast<double>(interval_.count()) / 1000.0, counts));
    }
    it = windows_.erase(it);  // bounded: a source's window lives one interval
  }
  return lines;
}

}  // namespace openkd::remote
