#pragma once

namespace imserver::policy {

// Shared by the release (R1..R4) and join (J-d) rules: the two session kinds
// behave differently for minimum-size release and for authorization.
enum class SessionKind { AdHoc, Predefined };

}  // namespace imserver::policy
