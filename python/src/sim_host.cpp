#include "python/src/sim_host.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "core/commands/registers.hpp"
#include "core/debugger/modules.hpp"
#include "core/debugger/symbols.hpp"
#include "core/wire/kdnet.hpp"
#include "python/src/errors.hpp"

namespace openkd::py {
namespace {

using Kind = KdError::Kind;

/// The machine's memory as a debugger::TargetMemory, so the debugger's own
/// module walk and export reader name ground-truth symbols (no second parser).
class MachineMemory final : public debugger::TargetMemory {
public:
  explicit MachineMemory(sim::Machine& m) : m_(m) {}
  debugger::Result<std::size_t> read_virtual(std::uint64_t a, std::span<std::uint8_t> out) override {
    std::size_t n = m_.space().read(a, out);
    if (n == 0) return std::unexpected(debugger::Error{"unreadable", 0xC0000005, debugger::ErrorKind::Status});
    return n;
  }
  debugger::Result<std::size_t> write_virtual(std::uint64_t, wire::ByteView) override { return unsupported(); }
  debugger::Result<std::size_t> read_physical(std::uint64_t, std::span<std::uint8_t>) override { return unsupported(); }
  debugger::Result<std::size_t> write_physical(std::uint64_t, wire::ByteView) override { return unsupported(); }
  debugger::Result<std::uint32_t> fill_memory(std::uint64_t, std::uint32_t, wire::ByteView, bool) override {
    return std::unexpected(debugger::Error{"read-only view", 0, debugger::ErrorKind::Unsupported});
  }

private:
  static debugger::Result<std::size_t> unsupported() {
    return std::unexpected(debugger::Error{"read-only view", 0, debugger::ErrorKind::Unsupported});
  }
  sim::Machine& m_;
};

std::optional<std::uint64_t> machine_symbol(sim::Machine& m, const std::string& name) {
  MachineMemory memory(m);
  debugger::KernelLocation where{m.kernel_base(), m.kernel_export("PsLoadedModuleList").value_or(0)};
  debugger::ModuleList modules(memory, where);
  debugger::SymbolTable symbols(memory, modules);
  return symbols.address_of(name);
}

bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n > 0) {
      done += std::size_t(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0) return false;  // a debugger that stopped reading loses bytes, as a line would
    } else {
      return false;
    }
  }
  return true;
}

// simulator/kernel/ntos/ki.h: IMAGE_CYCLER_MODE, IMAGE_REQUEST, IMAGE_CYCLER_STATE.
constexpr std::uint32_t kImageCyclerManual = 1;
constexpr std::uint32_t kImageRequestLoad = 1, kImageRequestUnload = 2;
constexpr std::uint32_t kImageLoading = 2, kImageUnloading = 4;  // under way: the request finishes
constexpr const char* kImageStates[] = {"starting", "unloaded", "loading", "loaded", "unloading", "failed"};

/// The cycler's exported variables (mode, request, state), or nullopt when the kernel lacks them.
struct CyclerVariables {
  std::uint64_t mode, request, state;
};
std::optional<CyclerVariables> cycler_variables(sim::Machine& m) {
  auto mode = m.kernel_export("ExpImageCyclerMode");
  auto request = m.kernel_export("ExpImageRequest");
  auto state = m.kernel_export("ExpImageState");
  if (!mode || !request || !state) return std::nullopt;
  return CyclerVariables{*mode, *request, *state};
}

DriverState read_driver_state(sim::Simulator& s) {
  DriverState d;
  d.running = s.stub().running();
  auto v = cycler_variables(s.machine());
  auto& space = s.machine().space();
  if (!v || space.read_u32(v->mode) != kImageCyclerManual) {
    d.state = "automatic";
    return d;
  }
  std::uint32_t state = space.read_u32(v->state);
  d.state = state < std::size(kImageStates) ? kImageStates[state] : "state " + std::to_string(state);
  d.pending = space.read_u32(v->request) != 0 || state == kImageLoading || state == kImageUnloading;
  return d;
}

}  // namespace

SimHost::SimHost(const SimConfig& config) : config_(config) {
  if (config.cpus < 1 || config.cpus > sim::kMaxCpus)
    throw KdError(Kind::Error, "cpus must be 1.." + std::to_string(sim::kMaxCpus));
  sim::SimulatorConfig sc;
  sc.machine.cpus = config.cpus;
  sc.machine.seed = config.seed;
  sc.machine.memory_mib = config.memory_mib;
  sc.machine.build = config.build;
  if (!config.kernel_dir.empty()) {
    sc.machine.kernel_dir = config.kernel_dir;
  } else {
    const char* dir = std::getenv("OPENKD_KERNEL_DIR");
    sc.machine.kernel_dir = dir && *dir ? dir : OPENKD_KERNEL_DIR;
  }
  sc.break_on_boot = config.break_on_boot;
  sc.machine.boot_prompt = config.boot_prompt;
  sc.on_detach = config.on_detach_run ? sim::OnDetach::Run : sim::OnDetach::Freeze;
  if (!config.faults.empty()) {
    auto f = sim::parse_faults(config.faults);
    if (!f) throw KdError(Kind::Error, "bad faults '" + config.faults + "': " + f.error());
    sc.faults = *f;
  }
  auto s = sim::Simulator::create(sc);
  if (!s) throw KdError(Kind::Error, "cannot start the simulated kernel: " + s.error());
  if (config.manual_driver_cycle) {
    // Before the kernel runs a single instruction: the cycler reads its mode once, when it starts.
    auto mode = (*s)->machine().kernel_export("ExpImageCyclerMode");
    if (!mode) throw KdError(Kind::Error, "this simkrnl.exe has no manual driver cycle (no ExpImageCyclerMode export)");
    (*s)->machine().space().write_u32(*mode, kImageCyclerManual);
  }
  thread_ = std::make_unique<sim::SimulatorThread>(std::move(*s));
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw KdError(Kind::Error, "cannot create a pipe");
  wake_read_ = io::Fd(p[0]);
  wake_write_ = io::Fd(p[1]);
}

SimHost::~SimHost() { close(); }

std::string SimHost::listen(const std::string& where) {
  std::lock_guard lock(close_mutex_);
  if (closed_) throw KdError(Kind::Error, "the simulator is closed");
  if (!connect_.empty()) throw KdError(Kind::Error, "the simulator already listens on " + connect_);
  io_ = std::make_unique<boost::asio::io_context>();
  if (where.rfind("pipe:", 0) == 0) {
    std::string path = where.substr(5);
    if (path.empty()) throw KdError(Kind::Error, "listen: pipe: needs a path (pipe:PATH)");
    auto l = io::Listener::listen_unix(io_->get_executor(), path);
    if (!l) throw KdError(Kind::Error, "listen on " + where + ": " + l.error());
    listener_ = std::move(*l);
    connect_ = "com:pipe,port=" + path;
  } else if (where.rfind("tcp:", 0) == 0) {
    std::string rest = where.substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) throw KdError(Kind::Error, "listen: expected tcp:HOST:PORT, got '" + where + "'");
    std::string host = rest.substr(0, colon), port_text = rest.substr(colon + 1);
    unsigned port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) throw KdError(Kind::Error, "listen: bad tcp port '" + port_text + "'");
      port = port * 10 + unsigned(c - '0');
    }
    if (port_text.empty() || port > 65535) throw KdError(Kind::Error, "listen: bad tcp port '" + port_text + "'");
    if (host.empty()) host = "127.0.0.1";
    io::TcpBind bind{host, std::uint16_t(port), std::uint16_t(port), io::Family::any};
    auto l = io::Listener::listen_tcp(io_->get_executor(), bind);
    if (!l) throw KdError(Kind::Error, "listen on " + where + ": " + l.error());
    listener_ = std::move(*l);
    connect_ = "com:ipport=" + std::to_string(listener_->port()) + ",port=" + host;
  } else if (where == "pty") {
    auto pty = io::open_pty_pair();
    if (!pty) throw KdError(Kind::Error, "listen on pty: " + pty.error());
    peer_ = std::move(pty->master);
    pty_slave_ = std::move(pty->slave);
    is_pty_ = true;
    connect_ = "com:port=" + pty->slave_path + ",baud=115200";
  } else if (where.rfind("kdnet:", 0) == 0) {
    connect_ = listen_kdnet(where.substr(6));
  } else {
    throw KdError(Kind::Error, "listen: expected pipe:PATH, tcp:HOST:PORT, pty or kdnet:port=N,key=K[,hostip=IP]"
                               "[,bind=IP], got '" + where + "'");
  }
  start_pumps();
  return connect_;
}

int SimHost::socketpair() {
  std::lock_guard lock(close_mutex_);
  if (closed_) throw KdError(Kind::Error, "the simulator is closed");
  if (!connect_.empty()) throw KdError(Kind::Error, "the simulator already listens on " + connect_);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw KdError(Kind::Error, "cannot create the simulator's link (socketpair)");
  ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  peer_ = io::Fd(fds[0]);
  connect_ = "sim (in process)";
  start_pumps();
  return fds[1];
}

std::string SimHost::listen_kdnet(const std::string& words) {
  auto spec = backends::parse_kdnet_target(words, "listen: kdnet:");
  if (!spec) throw KdError(Kind::Error, spec.error());
  if (spec->key.empty()) {
    auto key = wire::kdnet::random_key();
    if (!key) throw KdError(Kind::Error, "listen: kdnet: OpenSSL's RAND_bytes failed: cannot make a key");
    spec->key = wire::kdnet::format_key(*key);
  }
  // Both ends use port N, each on its own address: on this machine the target
  // takes 127.0.0.2 and the debugger 127.0.0.1 (or the other way round).
  constexpr std::uint32_t kLoopback1 = 0x7F000001, kLoopback2 = 0x7F000002;
  auto loopback = [](std::uint32_t a) { return (a >> 24) == 127; };
  auto ip = [](std::uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255); };
  if (!spec->bind) spec->bind = (!spec->hostip || loopback(spec->hostip)) ? kLoopback2 : 0;
  std::optional<std::uint32_t> debugger_ip;  // the address the debugger binds, when on this machine
  if (spec->hostip) {
    if (*spec->bind == spec->hostip)
      throw KdError(Kind::Error, "listen: kdnet: bind= and hostip= are the same address; both ends use port N");
    debugger_ip = spec->hostip;
  } else if (*spec->bind == 0) {
    throw KdError(Kind::Error, "listen: kdnet: without hostip= a debugger contacts the target at its bind= address: "
                               "give bind=IP (default 127.0.0.2) or hostip=IP");
  } else if (loopback(*spec->bind)) {
    debugger_ip = *spec->bind == kLoopback1 ? kLoopback2 : kLoopback1;
  }
  auto target = backends::KdnetTarget::open(*spec, debugger_ip);
  if (!target) throw KdError(Kind::Error, "listen on kdnet: " + target.error());
  // The stub speaks KDNET's packet ids with datagram timing (as kdsim --kdnet).
  auto link = link::LinkConfig::target(link::IdScheme::Kdnet);
  link.use_datagram_timing();
  thread_->with([&](sim::Simulator& s) { s.use_link(link, std::chrono::steady_clock::now()); });
  const auto port = (*target)->self().port;
  kdnet_ = std::move(*target);
  std::string c = fmt::format("net:port={},key={}", port, spec->key);
  if (spec->hostip) return c + ",bind=" + ip(spec->hostip);  // the target POKEs the debugger there
  c += ",target=" + ip(*spec->bind);                          // the debugger SOLICITs the target
  if (debugger_ip) c += ",bind=" + ip(*debugger_ip);
  return c;
}

void SimHost::start_pumps() {
  if (kdnet_) {
    in_ = std::thread([this] { pump_kdnet_in(); });
    out_ = std::thread([this] { pump_kdnet_out(); });
    return;
  }
  in_ = std::thread([this] { pump_in(); });
  out_ = std::thread([this] { pump_out(); });
}

void SimHost::pump_kdnet_in() {
  namespace kn = link::kdnet;
  std::vector<wire::Bytes> payloads;
  while (!stopping_) {
    int timeout = 50;
    {
      std::lock_guard lock(kdnet_mutex_);
      if (auto d = kdnet_->next_deadline()) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d - std::chrono::steady_clock::now()).count();
        timeout = static_cast<int>(std::clamp<long long>(ms, 0, 50));
      }
    }
    pollfd fds[2] = {{wake_read_.get(), POLLIN, 0}, {kdnet_->fd(), POLLIN, 0}};
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    bool restart = false;
    {
      std::lock_guard lock(kdnet_mutex_);
      kdnet_->receive(std::chrono::steady_clock::now());
      while (auto e = kdnet_->take_event()) {
        // A new debugger replacing one is a reconnect: the stub starts a fresh link.
        // (Authentication failures and malformed datagrams are counted by the endpoint.)
        if (auto* started = std::get_if<kn::SessionStarted>(&*e); started && started->restart) restart = true;
      }
      while (auto p = kdnet_->take_payload()) payloads.push_back(std::move(*p));
    }
    if (restart) thread_->disconnect();
    for (auto& p : payloads) thread_->write(p);
    payloads.clear();
  }
}

void SimHost::pump_kdnet_out() {
  while (!stopping_) {
    auto frames = thread_->read_frames(std::chrono::milliseconds(50));
    if (frames.empty()) continue;
    std::lock_guard lock(kdnet_mutex_);
    for (auto& f : frames) kdnet_->send(f, std::chrono::steady_clock::now());
  }
}

void SimHost::drop_peer() {
  {
    std::lock_guard lock(peer_mutex_);
    peer_ = io::Fd();
  }
  thread_->disconnect();
}

void SimHost::pump_in() {
  std::vector<std::uint8_t> buf(65536);
  while (!stopping_) {
    pollfd fds[2] = {{wake_read_.get(), POLLIN, 0}, {-1, POLLIN, 0}};
    const int peer = peer_.get();  // only this thread replaces it
    if (peer >= 0) fds[1].fd = peer;
    else if (listener_) fds[1].fd = listener_->native_handle();
    if (::poll(fds, 2, 200) <= 0) continue;
    if (fds[0].revents) break;
    if (!fds[1].revents) continue;
    if (peer < 0) {
      if (auto c = listener_->accept_now()) {
        std::lock_guard lock(peer_mutex_);
        peer_ = io::Fd(io::release_fd(*c));
      }
      continue;
    }
    ssize_t n = ::read(peer, buf.data(), buf.size());
    if (n > 0) {
      thread_->write(wire::ByteView(buf.data(), std::size_t(n)));
    } else if (is_pty_) {
      // A pty has no connections: nobody has the slave open; wait and look again.
      pollfd w{wake_read_.get(), POLLIN, 0};
      ::poll(&w, 1, 50);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      drop_peer();  // the debugger went away; the kernel runs on, the next one resynchronises
      if (!listener_) break;  // a socketpair has no second debugger
    }
  }
}

void SimHost::pump_out() {
  while (!stopping_) {
    wire::Bytes out = thread_->read(std::chrono::milliseconds(50));
    if (out.empty()) continue;
    std::lock_guard lock(peer_mutex_);
    if (peer_) write_all(peer_.get(), out.data(), out.size());
  }
}

void SimHost::close() {
  std::lock_guard lock(close_mutex_);
  if (closed_) return;
  closed_ = true;
  stopping_ = true;
  if (wake_write_) {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_write_.get(), &c, 1);
  }
  if (in_.joinable()) in_.join();
  if (out_.joinable()) out_.join();
  if (thread_) thread_->stop();
  {
    std::lock_guard plock(peer_mutex_);
    peer_ = io::Fd();
  }
  if (listener_) listener_->close();
  listener_.reset();
  kdnet_.reset();
  pty_slave_ = io::Fd();
}

std::vector<std::uint8_t> SimHost::read_memory(std::uint64_t va, std::size_t n) {
  if (n > (64u << 20)) throw KdError(Kind::Error, "read_memory: at most 64 MiB at once");
  std::vector<std::uint8_t> out(n);
  std::size_t got = 0;
  thread_->with([&](sim::Simulator& s) { got = s.machine().space().read(va, out); });
  if (got < n) {
    char where[40];
    std::snprintf(where, sizeof where, "%016llx", static_cast<unsigned long long>(va + got));
    throw KdError(Kind::Target, std::string("Memory access error at ") + where, 0xC0000005);
  }
  return out;
}

std::size_t SimHost::write_memory(std::uint64_t va, const std::vector<std::uint8_t>& data) {
  std::size_t done = 0;
  thread_->with([&](sim::Simulator& s) {
    done = s.machine().space().write(va, data);
    s.machine().code_changed(va, data.size());
  });
  return done;
}

std::map<std::string, std::uint64_t> SimHost::registers(unsigned cpu) {
  if (cpu >= config_.cpus) throw KdError(Kind::Error, "no processor " + std::to_string(cpu));
  wire::Context ctx;
  thread_->with([&](sim::Simulator& s) { ctx = s.machine().get_context(cpu); });
  std::map<std::string, std::uint64_t> out;
  for (const char* name : {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12",
                           "r13", "r14", "r15", "rip", "efl", "cs", "ds", "es", "fs", "gs", "ss", "dr0", "dr1", "dr2",
                           "dr3", "dr6", "dr7"})
    if (auto v = commands::get_register(ctx, name)) out[name] = *v;
  return out;
}

std::uint64_t SimHost::instruction_count() {
  std::uint64_t n = 0;
  thread_->with([&](sim::Simulator& s) { n = s.machine().instructions(); });
  return n;
}

std::vector<SimModule> SimHost::modules() {
  std::vector<SimModule> out;
  thread_->with([&](sim::Simulator& s) {
    for (const auto& r : s.machine().modules()) out.push_back({r.name, r.va, r.size});
  });
  return out;
}

std::optional<std::uint64_t> SimHost::symbol(const std::string& name) {
  std::optional<std::uint64_t> a;
  thread_->with([&](sim::Simulator& s) { a = machine_symbol(s.machine(), name); });
  return a;
}

std::map<std::string, std::uint64_t> SimHost::fault_counters() {
  std::map<std::string, std::uint64_t> out;
  thread_->with([&](sim::Simulator& s) {
    auto add = [&](const char* dir, const sim::FaultCounters& c) {
      std::string d(dir);
      out[d + "_chunks"] = c.chunks;
      out[d + "_dropped"] = c.dropped;
      out[d + "_corrupted"] = c.corrupted;
      out[d + "_duplicated"] = c.duplicated;
      out[d + "_truncated"] = c.truncated;
    };
    add("in", s.incoming_faults());
    add("out", s.outgoing_faults());
  });
  return out;
}

std::map<std::string, std::uint64_t> SimHost::kdnet_counters() {
  std::map<std::string, std::uint64_t> out;
  std::lock_guard lock(kdnet_mutex_);
  if (!kdnet_) return out;
  const auto& c = kdnet_->counters();
  out = {{"datagrams_received", c.datagrams_received}, {"datagrams_sent", c.datagrams_sent},
         {"datagrams_dropped", c.datagrams_dropped},   {"auth_failures", c.auth_failures},
         {"not_kdnet", c.not_kdnet},                   {"malformed", c.malformed},
         {"replays_dropped", c.replays_dropped},       {"no_session", c.no_session},
         {"payloads_dropped", c.payloads_dropped},     {"solicits_received", c.solicits_received},
         {"pokes_sent", c.pokes_sent},                 {"responses_received", c.responses_received},
         {"sessions", c.sessions},                     {"restarts", c.restarts},
         {"data_sent", c.data_sent},                   {"data_received", c.data_received}};
  return out;
}

std::string SimHost::console() {
  std::string text;
  thread_->with([&](sim::Simulator& s) { text = s.machine().console(); });
  return text;
}

void SimHost::trigger_bug(std::uint32_t value) {
  bool ok = false;
  thread_->with([&](sim::Simulator& s) {
    auto a = machine_symbol(s.machine(), "simdrv!TriggerBug");
    if (!a) return;
    s.machine().space().write_u32(*a, value);
    ok = true;
  });
  if (!ok) throw KdError(Kind::Error, "simdrv!TriggerBug is not loaded (simdrv.sys loads at boot: let the kernel run first)");
}

void SimHost::emit_print(const std::string& text, unsigned cpu) {
  if (cpu >= config_.cpus) throw KdError(Kind::Error, "no processor " + std::to_string(cpu));
  // Another event (a print, a load) may be pending: it goes first; try between slices.
  for (int attempt = 0; attempt < 200; ++attempt) {
    bool posted = false;
    thread_->with([&](sim::Simulator& s) { posted = s.machine().post_print(cpu, text); });
    if (posted) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw KdError(Kind::Timeout, "emit_print: the kernel kept an event pending for 1 s (is the target stopped?)");
}

void SimHost::request_driver(bool load) {
  const char* what = load ? "load_driver" : "unload_driver";
  std::string refusal;
  thread_->with([&](sim::Simulator& s) {
    DriverState d = read_driver_state(s);
    if (d.state == "automatic")
      refusal = "the kernel loads and unloads simdrv2.sys by itself; make the Simulator with driver_cycle=\"manual\"";
    else if (d.pending)
      refusal = "a load or unload of simdrv2.sys is still pending";
    else if (load && d.state == "loaded")
      refusal = "simdrv2.sys is already loaded";
    else if (!load && d.state != "loaded")
      refusal = "simdrv2.sys is not loaded";
    else
      s.machine().space().write_u32(cycler_variables(s.machine())->request, load ? kImageRequestLoad : kImageRequestUnload);
  });
  if (!refusal.empty()) throw KdError(Kind::Error, std::string(what) + ": " + refusal);
}

DriverState SimHost::wait_driver(std::chrono::milliseconds slice) {
  const auto end = std::chrono::steady_clock::now() + slice;
  for (;;) {
    DriverState d;
    thread_->with([&](sim::Simulator& s) { d = read_driver_state(s); });
    if (!d.pending || std::chrono::steady_clock::now() >= end) return d;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool SimHost::withdraw_driver_request() {
  bool withdrawn = false;
  thread_->with([&](sim::Simulator& s) {
    auto v = cycler_variables(s.machine());
    if (!v) return;
    auto& space = s.machine().space();
    std::uint32_t state = space.read_u32(v->state);
    if (state == kImageLoading || state == kImageUnloading) return;  // under way: it finishes
    withdrawn = space.read_u32(v->request) != 0;
    space.write_u32(v->request, 0);
  });
  return withdrawn;
}

}  // namespace openkd::py
