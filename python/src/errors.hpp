// The one C++ exception the bindings throw: module.cpp turns it into
// openkd.Error or one of its subclasses (openkd/errors.py), carrying the
// message kd would print and, for a target's refusal, the NTSTATUS.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/debugger/target.hpp"

namespace openkd::py {

struct KdError : std::runtime_error {
  enum class Kind { Error, Protocol, Timeout, Target, Connection, Running } kind;
  std::uint32_t ntstatus = 0;
  KdError(Kind k, std::string message, std::uint32_t status = 0)
      : std::runtime_error(std::move(message)), kind(k), ntstatus(status) {}
};

/// debugger::Error -> the Python class a test catches.
inline KdError to_kd_error(const debugger::Error& e) {
  using debugger::ErrorKind;
  switch (e.kind) {
    case ErrorKind::Status: return {KdError::Kind::Target, e.message, e.ntstatus};
    case ErrorKind::Malformed: return {KdError::Kind::Protocol, e.message, e.ntstatus};
    case ErrorKind::Timeout: return {KdError::Kind::Timeout, e.message, e.ntstatus};
    case ErrorKind::Disconnected: return {KdError::Kind::Connection, e.message, e.ntstatus};
    case ErrorKind::Running: return {KdError::Kind::Running, e.message, e.ntstatus};
    default: return {KdError::Kind::Error, e.message, e.ntstatus};
  }
}

}  // namespace openkd::py
