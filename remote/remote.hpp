// openkd remoting: what the debugger needs, in one include.
#pragma once
#include "remote/client.hpp"
#include "remote/hub.hpp"
#include "remote/registry.hpp"
#include "remote/transport_spec.hpp"
