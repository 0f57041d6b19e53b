// Metric names and help texts of the kernel values procfs/ reads: sysctls
// (tcpstate_kernel_*), TcpExt counters (tcpstate_tcpext_*_total) and snmp Tcp
// counters (tcpstate_tcp_*_total).
#pragma once

#include <string_view>

#include "procfs/kernel_settings.h"
#include "procfs/snmp_counters.h"
#include "procfs/tcpext_counters.h"

namespace tcpstate {

struct MetricName {
  std::string_view name;  // full metric name
  std::string_view help;
};

MetricName KernelSettingMetric(Sysctl sysctl);
MetricName TcpExtMetric(TcpExtField field);
MetricName SnmpTcpMetric(SnmpTcpField field);

}  // namespace tcpstate
