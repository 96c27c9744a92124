/// @file
/// Everything a program needs: include this one header (the protocol headers,
/// such as uptls/smtp.hpp, and the optional uptls/asio.hpp come on their own).
#pragma once

#include "uptls/backend.hpp"
#include "uptls/config.hpp"
#include "uptls/errc.hpp"
#include "uptls/event_server.hpp"
#include "uptls/fallback.hpp"
#include "uptls/result.hpp"
#include "uptls/session.hpp"
#include "uptls/stream.hpp"
#include "uptls/trace.hpp"
#include "uptls/transport.hpp"
