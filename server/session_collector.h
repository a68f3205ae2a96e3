#ifndef BASIN_SERVER_SESSION_COLLECTOR_H_
#define BASIN_SERVER_SESSION_COLLECTOR_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/session_manager.h"

namespace basin {

// The gauges that describe what the server holds, read from the SessionManager when Prometheus
// scrapes rather than kept up to date on every tick: basin_sessions, basin_state_bytes, their
// limits, and the basin_run_* gauges of the sessions that opted in with a metrics_run label
// (whose ‖θ − θa‖ costs a pass over the parameters, so it is computed once per scrape, not
// once per tick).
class SessionCollector final : public prometheus::Collectable {
 public:
  explicit SessionCollector(const SessionManager* sessions) : sessions_(sessions) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const SessionManager* sessions_;
};

}  // namespace basin

#endif  // BASIN_SERVER_SESSION_COLLECTOR_H_
