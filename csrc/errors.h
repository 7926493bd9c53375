// Exceptions raised inside libwespeaker. api.cpp maps each to a wespeaker_status; nothing else
// may let them escape.
#pragma once

#include <stdexcept>

namespace wespeaker {

struct InvalidArgument : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace wespeaker
