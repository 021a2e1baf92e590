#pragma once
// The MSRP listener: one libre event loop on its own thread that accepts TCP
// connections on msrp.host:msrp.port and drives the MsrpSwitch with their
// bytes. Session actors post MsrpCommands (register/release legs) from any
// thread; failed legs are reported to an MsrpEventSink.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "transport/msrp/msrp_messages.hpp"
#include "transport/msrp/msrp_switch.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::transport {

struct MsrpWorkerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 2855;  // 0 picks a free one
  MsrpSwitchConfig relay;
  int max_fds = 16384;
};

class MsrpWorker final : public MsrpCommandSink, public DialogEndListener {
 public:
  MsrpWorker(MsrpWorkerConfig config, MsrpEventSink& sink);
  ~MsrpWorker() override;
  MsrpWorker(const MsrpWorker&) = delete;
  MsrpWorker& operator=(const MsrpWorker&) = delete;

  // Starts the thread and listens. False with *error when binding fails.
  bool start(std::string* error);
  uint16_t port() const;

  // Thread-safe; commands run on the worker thread in the order posted.
  void post(std::vector<MsrpCommand> commands) override;

  // Thread-safe (called on the SIP worker's thread): releases the legs of
  // that dialog before anything the peer sends after the BYE's 200.
  void on_peer_bye(DialogId dialog) override;

  // Thread-safe; idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace imserver::transport
