// openkd._openkd: the C++ half of the openkd package. The Python half
// (openkd/__init__.py) builds the public API on these few blocking calls;
// every call that can wait releases the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "backends/connect_string.hpp"
#include "backends/serial_port.hpp"
#include "python/src/errors.hpp"
#include "python/src/py_debugger.hpp"
#include "python/src/py_remote.hpp"
#include "python/src/sim_host.hpp"

namespace pyb = pybind11;
using namespace openkd;
using namespace openkd::py;
using release = pyb::call_guard<pyb::gil_scoped_release>;

namespace {

const char* class_for(KdError::Kind k) {
  switch (k) {
    case KdError::Kind::Protocol: return "ProtocolError";
    case KdError::Kind::Timeout: return "TimeoutError";
    case KdError::Kind::Target: return "TargetError";
    case KdError::Kind::Connection: return "ConnectionError";
    case KdError::Kind::Running: return "RunningError";
    default: return "Error";
  }
}

pyb::bytes to_bytes(const std::vector<std::uint8_t>& v) {
  return pyb::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

pyb::dict stop_dict(const StopInfo& s) {
  pyb::dict d;
  d["reason"] = s.reason;
  d["code"] = s.code;
  d["address"] = s.address;
  d["processor"] = s.processor;
  d["thread"] = s.thread;
  d["first_chance"] = s.first_chance;
  d["parameters"] = s.parameters;
  d["module"] = s.module;
  d["module_base"] = s.module_base;
  d["breakpoint"] = s.breakpoint ? pyb::object(pyb::int_(*s.breakpoint)) : pyb::object(pyb::none());
  return d;
}

pyb::object event_object(const Event& e) {
  pyb::dict d;
  d["kind"] = e.kind;
  d["text"] = e.text;
  d["stop"] = e.stop ? pyb::object(stop_dict(*e.stop)) : pyb::object(pyb::none());
  return d;
}

// Memory calls: the GIL is released for the target's round trips, bytes come back as bytes.
template <auto Read>
auto reader() {
  return [](PyDebugger& d, std::uint64_t a, std::size_t n) {
    std::vector<std::uint8_t> v;
    {
      pyb::gil_scoped_release r;
      v = (d.*Read)(a, n);
    }
    return to_bytes(v);
  };
}
template <auto Write>
auto writer() {
  return [](PyDebugger& d, std::uint64_t a, pyb::bytes data) {
    std::string_view v(data);
    pyb::gil_scoped_release r;
    return (d.*Write)(a, reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
  };
}

// The "kind" parse_connection reports; a switch, so a new kind is a compile warning here.
const char* kind_name(backends::ConnectSpec::Kind kind) {
  using K = backends::ConnectSpec::Kind;
  switch (kind) {
    case K::Pipe: return "pipe";
    case K::Serial: return "serial";
    case K::TcpSerial: return "tcp_serial";
    case K::Net: return "net";
    case K::Sim: return "sim";
    case K::ListPorts: return "list_ports";
  }
  return "unknown";
}

std::chrono::milliseconds ms(double seconds) {
  if (seconds < 0) seconds = 0;
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

}  // namespace

PYBIND11_MODULE(_openkd, m) {
  m.doc() = "openkd's C++ core (use the openkd package, not this module)";

  pyb::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const KdError& e) {
      pyb::object errors = pyb::module_::import("openkd.errors");
      pyb::object cls = errors.attr(class_for(e.kind));
      pyb::object exc = cls(e.what());
      exc.attr("ntstatus") = e.ntstatus;
      PyErr_SetObject(cls.ptr(), exc.ptr());
    }
  });

  m.def(
      "parse_connection",
      [](const std::string& text) {
        auto s = backends::parse_connect_string(text);
        if (!s) throw KdError(KdError::Kind::Error, "bad connection string '" + text + "': " + s.error());
        pyb::dict d;
        d["kind"] = kind_name(s->kind);
        d["path"] = s->path;
        d["port"] = s->port;
        d["baud"] = s->baud;
        d["resets"] = s->resets;
        d["reconnect"] = s->reconnect;
        d["key"] = s->key;
        d["target"] = s->target;
        d["bind"] = s->bind;
        d["bus"] = s->bus;
        d["flow"] = backends::to_string(s->flow);
        d["cpus"] = s->cpus;
        d["seed"] = s->seed;
        d["build"] = s->build;
        d["canonical"] = backends::to_string(*s);
        return d;
      },
      pyb::arg("text"), "kd's own -k parser (backends::parse_connect_string) as a dict.");

  pyb::class_<BoundedQueue<Event>, std::shared_ptr<BoundedQueue<Event>>>(m, "_EventQueue")
      .def(pyb::init([](std::size_t limit) { return std::make_shared<BoundedQueue<Event>>(limit); }))
      .def("pop",
           [](BoundedQueue<Event>& q, double timeout) -> pyb::object {
             std::optional<Event> e;
             {
               pyb::gil_scoped_release r;
               e = q.pop(ms(timeout));
             }
             return e ? event_object(*e) : pyb::none();
           })
      .def("close", &BoundedQueue<Event>::close, release());

  pyb::class_<SimHost>(m, "_Simulator")
      .def(pyb::init([](unsigned cpus, std::uint64_t seed, std::uint64_t memory, std::uint32_t build,
                        const std::string& faults, bool break_on_boot, const std::string& kernel_dir,
                        bool manual_driver_cycle, bool boot_prompt, bool on_detach_run) {
             SimConfig c{cpus, seed, memory, build, faults, break_on_boot, kernel_dir};
             c.manual_driver_cycle = manual_driver_cycle;
             c.boot_prompt = boot_prompt;
             c.on_detach_run = on_detach_run;
             pyb::gil_scoped_release r;
             return std::make_unique<SimHost>(c);
           }),
           pyb::arg("cpus"), pyb::arg("seed"), pyb::arg("memory"), pyb::arg("build"), pyb::arg("faults"),
           pyb::arg("break_on_boot"), pyb::arg("kernel_dir"), pyb::arg("manual_driver_cycle") = false,
           pyb::arg("boot_prompt") = false, pyb::arg("on_detach_run") = false)
      .def("listen", &SimHost::listen, release())
      .def_property_readonly("connect_string", &SimHost::connect_string)
      .def("read_memory", [](SimHost& s, std::uint64_t a, std::size_t n) {
        std::vector<std::uint8_t> v;
        {
          pyb::gil_scoped_release r;
          v = s.read_memory(a, n);
        }
        return to_bytes(v);
      })
      .def("write_memory",
           [](SimHost& s, std::uint64_t a, const std::string& data) {
             std::vector<std::uint8_t> v(data.begin(), data.end());
             pyb::gil_scoped_release r;
             return s.write_memory(a, v);
           })
      .def("registers", &SimHost::registers, release())
      .def("instruction_count", &SimHost::instruction_count, release())
      .def("modules",
           [](SimHost& s) {
             std::vector<SimModule> mods;
             {
               pyb::gil_scoped_release r;
               mods = s.modules();
             }
             pyb::list out;
             for (auto& mo : mods) out.append(pyb::make_tuple(mo.name, mo.base, mo.size));
             return out;
           })
      .def("symbol", &SimHost::symbol, release())
      .def("fault_counters", &SimHost::fault_counters, release())
      .def("kdnet_counters", &SimHost::kdnet_counters, release())
      .def("console", &SimHost::console, release())
      .def("trigger_bug", &SimHost::trigger_bug, release())
      .def("emit_print", &SimHost::emit_print, release())
      .def("request_driver", &SimHost::request_driver, release())
      .def("wait_driver",
           [](SimHost& s, double slice) {
             DriverState d;
             {
               pyb::gil_scoped_release r;
               d = s.wait_driver(ms(slice));
             }
             return pyb::make_tuple(d.state, d.pending, d.running);
           })
      .def("withdraw_driver_request", &SimHost::withdraw_driver_request, release())
      .def_property_readonly("cpus", &SimHost::cpus)
      .def("close", &SimHost::close, release());

  pyb::class_<PyDebugger, std::shared_ptr<PyDebugger>>(m, "_Debugger")
      .def(pyb::init([](const std::string& connect, double request_timeout,
                        const std::string& boot_options, bool break_on_module_load, std::uint64_t memory,
                        const std::string& faults, const std::string& kernel_dir) {
             DebuggerOptions o;
             o.connect = connect;
             o.request_timeout = ms(request_timeout);
             o.boot_options = boot_options;
             o.break_on_module_load = break_on_module_load;
             o.sim.memory_mib = memory;
             o.sim.faults = faults;
             o.sim.kernel_dir = kernel_dir;
             pyb::gil_scoped_release r;
             return std::make_shared<PyDebugger>(std::move(o));
           }),
           pyb::arg("connect"), pyb::arg("request_timeout"), pyb::arg("boot_options"),
           pyb::arg("break_on_module_load"), pyb::arg("memory"), pyb::arg("faults"), pyb::arg("kernel_dir"))
      .def("attach", [](PyDebugger& d, double slice) {
        pyb::gil_scoped_release r;
        return d.attach(ms(slice));
      })
      .def("start_job", &PyDebugger::start_job, release())
      .def("wait_job", [](PyDebugger& d, double slice) {
        pyb::gil_scoped_release r;
        return d.wait_job(ms(slice));
      })
      .def("finish_job", &PyDebugger::finish_job, release())
      .def("job_active", &PyDebugger::job_active, release())
      .def("interrupt", &PyDebugger::interrupt, release())
      .def("break_in", &PyDebugger::break_in, release())
      .def("read_virtual", reader<&PyDebugger::read_virtual>())
      .def("write_virtual", writer<&PyDebugger::write_virtual>())
      .def("read_physical", reader<&PyDebugger::read_physical>())
      .def("write_physical", writer<&PyDebugger::write_physical>())
      .def("registers", &PyDebugger::registers, release())
      .def("set_register", &PyDebugger::set_register, release())
      .def("modules",
           [](PyDebugger& d) {
             std::vector<debugger::Module> mods;
             {
               pyb::gil_scoped_release r;
               mods = d.modules();
             }
             pyb::list out;
             for (auto& mo : mods) out.append(pyb::make_tuple(mo.name, mo.image_name, mo.base, mo.size, mo.full_path));
             return out;
           })
      .def("symbol", &PyDebugger::symbol, release())
      .def("address", &PyDebugger::address, release())
      .def("last_stop", [](PyDebugger& d) { return stop_dict(d.last_stop()); })
      .def("counters", &PyDebugger::counters, release())
      .def("traffic", &PyDebugger::traffic, release())
      .def("packets", &PyDebugger::packets, release())
      .def("processors", &PyDebugger::processors, release())
      .def("transport", &PyDebugger::transport, release())
      .def("set_breakpoint", &PyDebugger::set_breakpoint, release())
      .def("remove_breakpoint", &PyDebugger::remove_breakpoint, release())
      .def("hits", &PyDebugger::hits, release())
      .def("pop_print",
           [](PyDebugger& d, double timeout) -> pyb::object {
             std::optional<std::string> t;
             {
               pyb::gil_scoped_release r;
               t = d.prints().pop(ms(timeout));
             }
             return t ? pyb::object(pyb::str(*t)) : pyb::object(pyb::none());
           })
      .def("pop_event",
           [](PyDebugger& d, double timeout) -> pyb::object {
             std::optional<Event> e;
             {
               pyb::gil_scoped_release r;
               e = d.events().pop(ms(timeout));
             }
             return e ? event_object(*e) : pyb::none();
           })
      .def("set_event_sink",
           [](PyDebugger& d, std::shared_ptr<BoundedQueue<Event>> q) { d.set_event_sink(q.get()); })
      .def("clear_event_sink", [](PyDebugger& d) { d.set_event_sink(nullptr); })
      .def("simulator", &PyDebugger::simulator, pyb::return_value_policy::reference_internal)
      .def("closed", &PyDebugger::closed)
      .def("execute_now", &PyDebugger::run_command, release())
      .def("close", &PyDebugger::close, release());

  pyb::class_<RemoteServerHost>(m, "_RemoteServer")
      .def(pyb::init([](std::shared_ptr<PyDebugger> d, const std::string& transport) {
             pyb::gil_scoped_release r;
             return std::make_unique<RemoteServerHost>(std::move(d), transport);
           }))
      .def_property_readonly("client_string", &RemoteServerHost::client_string)
      .def("clients", &RemoteServerHost::clients, release())
      .def("take_log", &RemoteServerHost::take_log, release())
      .def("close", &RemoteServerHost::close, release());

  pyb::class_<RemoteClientHost>(m, "_RemoteClient")
      .def(pyb::init([](const std::string& transport, const std::string& identity, double timeout) {
             pyb::gil_scoped_release r;
             return std::make_unique<RemoteClientHost>(transport, identity, timeout);
           }))
      .def("execute", &RemoteClientHost::execute, release())
      .def("take_output", &RemoteClientHost::take_output, release())
      .def("alive", &RemoteClientHost::alive)
      .def("close", &RemoteClientHost::close, release());
}
