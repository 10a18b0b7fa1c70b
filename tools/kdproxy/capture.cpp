#include "capture.hpp"

#include <pcap/pcap.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include "core/wire/kdnet.hpp"

namespace openkd::kdproxy {

using link::trace::Direction;
using wire::Bytes;
using wire::ByteView;

// ---- writing ----------------------------------------------------------------

struct PcapWriter::Handles {
  pcap_t* dead = nullptr;
  pcap_dumper_t* dumper = nullptr;
  ~Handles() {
    if (dumper) pcap_dump_close(dumper);
    if (dead) pcap_close(dead);
  }
};

std::expected<std::unique_ptr<PcapWriter>, std::string> PcapWriter::open(const std::string& path) {
  std::unique_ptr<PcapWriter> w(new PcapWriter);
  w->h_ = std::make_unique<Handles>();
  w->h_->dead = pcap_open_dead(DLT_EN10MB, 65535);
  if (!w->h_->dead) return std::unexpected("--pcap: libpcap could not start a capture");
  w->h_->dumper = pcap_dump_open(w->h_->dead, path.c_str());
  if (!w->h_->dumper) return std::unexpected("--pcap " + path + ": " + pcap_geterr(w->h_->dead));
  return w;
}

PcapWriter::~PcapWriter() = default;

void PcapWriter::new_session() {
  ++session_;
  seq_[0] = seq_[1] = 1;
}

namespace {

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
  put16(b, at, static_cast<std::uint16_t>(v >> 16));
  put16(b, at + 2, static_cast<std::uint16_t>(v));
}
std::uint32_t sum16(ByteView b, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) sum += std::uint32_t(b[i]) << 8 | b[i + 1];
  if (b.size() % 2) sum += std::uint32_t(b.back()) << 8;
  return sum;
}
std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

}  // namespace

void PcapWriter::write(Direction dir, ByteView bytes, std::chrono::system_clock::time_point when) {
  for (std::size_t at = 0; at < bytes.size(); at += 1460)
    segment(dir, bytes.subspan(at, std::min<std::size_t>(1460, bytes.size() - at)), when);
  pcap_dump_flush(h_->dumper);
}

void PcapWriter::segment(Direction dir, ByteView payload, std::chrono::system_clock::time_point when) {
  const bool to_target = dir == Direction::ToTarget;
  const std::uint8_t dbg_ip[4] = {10, 0, 0, 1}, tgt_ip[4] = {10, 0, 0, 2};
  const std::uint16_t dbg_port = static_cast<std::uint16_t>(kFirstDebuggerPort + session_ % 16000);
  Bytes f(14 + 20 + 20 + payload.size(), 0);
  // Ethernet: locally administered addresses 02:00:00:00:00:01 (debugger) / :02 (target).
  std::uint8_t dbg_mac[6] = {2, 0, 0, 0, 0, 1}, tgt_mac[6] = {2, 0, 0, 0, 0, 2};
  std::copy_n(to_target ? tgt_mac : dbg_mac, 6, f.begin());
  std::copy_n(to_target ? dbg_mac : tgt_mac, 6, f.begin() + 6);
  put16(f, 12, 0x0800);
  // IPv4.
  f[14] = 0x45;
  put16(f, 16, static_cast<std::uint16_t>(40 + payload.size()));
  put16(f, 18, ip_id_++);
  put16(f, 20, 0x4000);  // don't fragment
  f[22] = 64;
  f[23] = 6;  // TCP
  std::copy_n(to_target ? dbg_ip : tgt_ip, 4, f.begin() + 26);
  std::copy_n(to_target ? tgt_ip : dbg_ip, 4, f.begin() + 30);
  put16(f, 24, fold(sum16(ByteView(f).subspan(14, 20))));
  // TCP: PSH|ACK, sequence numbers count each direction's bytes.
  int d = static_cast<int>(dir);
  put16(f, 34, to_target ? dbg_port : kTargetPort);
  put16(f, 36, to_target ? kTargetPort : dbg_port);
  put32(f, 38, seq_[d]);
  put32(f, 42, seq_[1 - d]);
  f[46] = 5 << 4;
  f[47] = 0x18;
  put16(f, 48, 65535);
  std::copy(payload.begin(), payload.end(), f.begin() + 54);
  // The checksum over the pseudo header (addresses, protocol, TCP length) and the segment.
  std::uint32_t pseudo = sum16(ByteView(f).subspan(26, 8)) + 6 + static_cast<std::uint32_t>(20 + payload.size());
  put16(f, 50, fold(sum16(ByteView(f).subspan(34), pseudo)));
  seq_[d] += static_cast<std::uint32_t>(payload.size());

  auto us = std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(us / 1000000);
  hdr.ts.tv_usec = static_cast<suseconds_t>(us % 1000000);
  hdr.caplen = hdr.len = static_cast<bpf_u_int32>(f.size());
  pcap_dump(reinterpret_cast<u_char*>(h_->dumper), &hdr, f.data());
}

// ---- reading ------------------------------------------------------------------

namespace {

struct Datagram {
  bool tcp = false;
  std::uint16_t src_port = 0, dst_port = 0;
  ByteView payload;
};

// The transport payload of one captured frame, or nothing (not IP, not TCP/UDP, cut short).
std::optional<Datagram> transport_of(int linktype, ByteView f) {
  std::size_t at = 0;
  std::uint16_t ethertype = 0;
  auto be16 = [&](std::size_t i) { return static_cast<std::uint16_t>(f[i] << 8 | f[i + 1]); };
  switch (linktype) {
    case DLT_EN10MB:
      if (f.size() < 14) return std::nullopt;
      ethertype = be16(12);
      at = 14;
      while ((ethertype == 0x8100 || ethertype == 0x88A8) && f.size() >= at + 4) {  // VLAN tags
        ethertype = be16(at + 2);
        at += 4;
      }
      break;
    case DLT_LINUX_SLL:
      if (f.size() < 16) return std::nullopt;
      ethertype = be16(14);
      at = 16;
      break;
    case DLT_NULL:
    case DLT_LOOP: {
      if (f.size() < 4) return std::nullopt;
      at = 4;
      ethertype = (f[at] >> 4) == 6 ? 0x86DD : 0x0800;
      break;
    }
    case DLT_RAW:
    case 101:  // LINKTYPE_RAW
    case 228:  // LINKTYPE_IPV4
    case 229:  // LINKTYPE_IPV6
      if (f.empty()) return std::nullopt;
      ethertype = (f[0] >> 4) == 6 ? 0x86DD : 0x0800;
      break;
    default: return std::nullopt;
  }
  std::uint8_t proto = 0;
  std::size_t end = f.size();
  if (ethertype == 0x0800) {
    if (f.size() < at + 20) return std::nullopt;
    std::size_t ihl = (f[at] & 0x0F) * 4u;
    std::size_t total = be16(at + 2);
    if ((be16(at + 6) & 0x3FFF) != 0) return std::nullopt;  // a fragment
    proto = f[at + 9];
    if (ihl < 20 || total < ihl || f.size() < at + total) return std::nullopt;
    end = at + total;
    at += ihl;
  } else if (ethertype == 0x86DD) {
    if (f.size() < at + 40) return std::nullopt;
    proto = f[at + 6];
    std::size_t total = 40u + be16(at + 4);
    if (f.size() < at + total) return std::nullopt;
    end = at + total;
    at += 40;
  } else {
    return std::nullopt;
  }
  Datagram d;
  if (proto == 17) {
    if (end < at + 8) return std::nullopt;
    d.src_port = be16(at);
    d.dst_port = be16(at + 2);
    d.payload = f.subspan(at + 8, end - at - 8);
  } else if (proto == 6) {
    if (end < at + 20) return std::nullopt;
    std::size_t off = (f[at + 12] >> 4) * 4u;
    if (off < 20 || end < at + off) return std::nullopt;
    d.tcp = true;
    d.src_port = be16(at);
    d.dst_port = be16(at + 2);
    d.payload = f.subspan(at + off, end - at - off);
  } else {
    return std::nullopt;
  }
  return d;
}

// The capture's bytes, gunzipped when they start with gzip's magic.
std::expected<Bytes, std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(path + ": cannot open");
  Bytes raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (raw.size() < 2 || raw[0] != 0x1F || raw[1] != 0x8B) return raw;
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return std::unexpected(path + ": zlib could not start");
  Bytes out;
  z.next_in = raw.data();
  z.avail_in = static_cast<uInt>(raw.size());
  constexpr std::size_t kMax = std::size_t{1} << 31;  // a bound on what a capture may inflate to
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out.size() >= kMax) {
      inflateEnd(&z);
      return std::unexpected(path + ": inflates past 2 GiB");
    }
    std::size_t have = out.size();
    out.resize(have + 65536);
    z.next_out = out.data() + have;
    z.avail_out = 65536;
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(have + 65536 - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;
    if (rc != Z_OK && rc != Z_STREAM_END) {
      std::string msg = z.msg ? z.msg : "corrupt data";
      inflateEnd(&z);
      return std::unexpected(path + ": gzip: " + msg);
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return std::unexpected(path + ": gzip data ends early");
  return out;
}

struct KdnetCounts {
  std::uint64_t frames = 0, datagrams = 0, kdnet = 0, authenticated = 0, decrypted = 0, pokes = 0,
                responses = 0, no_key = 0, unauthentic = 0, malformed = 0, not_kdnet = 0, kdcom_segments = 0;
};

std::string ipv4_text(std::uint32_t a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
  return buf;
}

}  // namespace

std::expected<void, std::string> decode_capture(const std::string& path, const std::string& key_text,
                                                const std::string& log) {
  std::optional<wire::kdnet::Keys> root;
  if (!key_text.empty()) {
    auto k = wire::kdnet::Keys::from_string(key_text);
    if (!k) return std::unexpected("--key: " + k.error().message);
    root = *k;
  }
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  FILE* mem = fmemopen(bytes->data(), bytes->size(), "rb");
  if (!mem) return std::unexpected(path + ": cannot read");
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_fopen_offline(mem, err);  // owns `mem` from here (pcap_close closes it)
  if (!p) {
    std::fclose(mem);
    return std::unexpected(path + ": not a pcap or pcapng capture (" + err + ")");
  }
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> guard(p, pcap_close);
  FILE* out = stdout;
  std::unique_ptr<FILE, int (*)(FILE*)> out_guard(nullptr, std::fclose);
  if (!log.empty() && log != "-") {
    out = std::fopen(log.c_str(), "w");
    if (!out) return std::unexpected("--log " + log + ": cannot create");
    out_guard.reset(out);
  }

  const int linktype = pcap_datalink(p);
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> start;
  std::unique_ptr<link::trace::Decoder> decoder;
  std::vector<wire::kdnet::Key> data_keys;  // one per RESPONSE seen (newest last)
  KdnetCounts n;
  auto emit = [&](const link::trace::Line& l) { std::fprintf(out, "%s\n", link::trace::format(l).c_str()); };

  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
    ++n.frames;
    Clock::time_point now{std::chrono::seconds(hdr->ts.tv_sec) + std::chrono::microseconds(hdr->ts.tv_usec)};
    if (!start) {
      start = now;
      decoder = std::make_unique<link::trace::Decoder>(now);
    }
    auto d = transport_of(linktype, ByteView(data, hdr->caplen));
    if (!d) continue;
    // kdproxy's own KDCOM captures: TCP to or from port 50000.
    if (d->tcp) {
      if (d->dst_port != kTargetPort && d->src_port != kTargetPort) continue;
      if (d->payload.empty()) continue;
      ++n.kdcom_segments;
      Direction dir = d->dst_port == kTargetPort ? Direction::ToTarget : Direction::ToDebugger;
      for (auto& l : decoder->push(dir, d->payload, now)) emit(l);
      continue;
    }
    ++n.datagrams;
    auto h = wire::kdnet::peek_header(d->payload);
    if (!h) {
      ++n.not_kdnet;
      continue;
    }
    ++n.kdnet;
    bool control = h->channel == static_cast<std::uint8_t>(wire::kdnet::Channel::Control);
    // The direction before decryption: the debugger listens on the KDNET port
    // (bcdedit's port=), so what goes to it comes from the target.
    Direction guess = d->dst_port == kKdnetPort ? Direction::ToDebugger : Direction::ToTarget;
    if (!root) {
      ++n.no_key;
      emit(decoder->note(guess, std::string("KDNET ") + (control ? "control" : "data") + " datagram (no --key)", now));
      continue;
    }
    std::expected<wire::kdnet::Datagram, wire::kdnet::OpenError> opened =
        std::unexpected(wire::kdnet::OpenError{wire::kdnet::OpenFailure::NoKey, "no data key yet (no RESPONSE seen)"});
    if (control) {
      opened = wire::kdnet::open(d->payload, *root);
    } else {
      // Several RESPONSEs give several data keys: the newest that authenticates wins.
      for (auto it = data_keys.rbegin(); it != data_keys.rend(); ++it) {
        wire::kdnet::Keys k = *root;
        k.data = *it;
        opened = wire::kdnet::open(d->payload, k);
        if (opened || opened.error().kind != wire::kdnet::OpenFailure::Unauthentic) break;
      }
    }
    if (!opened) {
      switch (opened.error().kind) {
        case wire::kdnet::OpenFailure::NoKey: ++n.no_key; break;
        case wire::kdnet::OpenFailure::Unauthentic: ++n.unauthentic; break;
        case wire::kdnet::OpenFailure::Malformed: ++n.authenticated, ++n.malformed; break;
        case wire::kdnet::OpenFailure::NotKdnet: ++n.malformed; break;
      }
      emit(decoder->note(guess, std::string("KDNET ") + (control ? "control" : "data") +
                                    " datagram not decoded: " + opened.error().message, now));
      continue;
    }
    ++n.authenticated;
    ++n.decrypted;
    Direction dir = opened->from_debugger ? Direction::ToTarget : Direction::ToDebugger;
    const Bytes& pl = opened->payload;
    std::string seq = "seq=" + std::to_string(opened->seq) + " ";
    if (control) {
      if (pl.size() >= 2 && pl[0] == wire::kdnet::kHandshakeTag && pl[1] == wire::kdnet::kPokeKind) {
        ++n.pokes;
        auto poke = wire::kdnet::parse_poke(pl);
        std::string s = seq + "POKE";
        if (poke && poke->target.ipv4() && poke->host.ipv4())
          s += " target " + ipv4_text(*poke->target.ipv4()) + ":" + std::to_string(poke->target.port) + " host " +
               ipv4_text(*poke->host.ipv4()) + ":" + std::to_string(poke->host.port);
        else if (!poke)
          s += " undecodable: " + poke.error().message;
        emit(decoder->note(dir, s, now));
      } else if (pl.size() >= 2 && pl[0] == wire::kdnet::kHandshakeTag && pl[1] == wire::kdnet::kResponseKind) {
        ++n.responses;
        auto resp = wire::kdnet::parse_response(pl);
        if (resp) {
          wire::kdnet::Keys k = *root;
          k.set_data_key_from_response(pl);
          if (std::find(data_keys.begin(), data_keys.end(), *k.data) == data_keys.end()) data_keys.push_back(*k.data);
          emit(decoder->note(dir, seq + "RESPONSE (data key " + std::to_string(data_keys.size()) + ")", now));
        } else {
          emit(decoder->note(dir, seq + "RESPONSE undecodable: " + resp.error().message, now));
        }
      } else {
        emit(decoder->note(dir, seq + "control payload of " + std::to_string(pl.size()) + " bytes", now));
      }
      continue;
    }
    for (auto& l : decoder->push_datagram(dir, pl, now)) {
      l.text = seq + l.text;
      emit(l);
    }
  }
  if (rc == PCAP_ERROR)
    std::fprintf(out, "capture ends with an error: %s\n", pcap_geterr(p));
  std::fprintf(out,
               "frames %llu, UDP datagrams %llu, KDNET datagrams %llu, authenticated %llu, decrypted %llu, "
               "POKEs %llu, RESPONSEs %llu (data keys %zu), no key %llu, unauthentic %llu, malformed %llu, "
               "not KDNET %llu, KDCOM segments %llu\n",
               (unsigned long long)n.frames, (unsigned long long)n.datagrams, (unsigned long long)n.kdnet,
               (unsigned long long)n.authenticated, (unsigned long long)n.decrypted, (unsigned long long)n.pokes,
               (unsigned long long)n.responses, data_keys.size(), (unsigned long long)n.no_key,
               (unsigned long long)n.unauthentic, (unsigned long long)n.malformed, (unsigned long long)n.not_kdnet,
               (unsigned long long)n.kdcom_segments);
  if (decoder) std::fprintf(out, "%s\n", decoder->summary().c_str());
  std::fflush(out);
  return {};
}

}  // namespace openkd::kdproxy
