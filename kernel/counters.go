package kernel

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/udpbuild/udpbuild/report"
)

// snmpCounters reads report.CounterNames from /proc/net/snmp and
// /proc/net/snmp6 of namespace ns. /proc/net follows the process's main
// thread, so the files are read through /proc/thread-self, whose net
// directory is the calling thread's namespace. A missing snmp6 (no IPv6
// in the kernel) leaves its counters out.
func snmpCounters(ns string) (map[string]int64, error) {
	all := map[string]int64{}
	err := inNetns(ns, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return fmt.Errorf("kernel: reading snmp counters: %w", err)
		}
		parseSnmp(string(b), all)
		b, err = os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("kernel: reading snmp6 counters: %w", err)
		}
		parseSnmp6(string(b), all)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, k := range report.CounterNames() {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// parseSnmp reads /proc/net/snmp's pairs of lines ("Udp: InDatagrams ...",
// "Udp: 79 ..."), keying each value "Udp.InDatagrams".
func parseSnmp(s string, into map[string]int64) {
	lines := strings.Split(s, "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) < 2 || len(names) != len(values) || names[0] != values[0] {
			continue
		}
		if _, err := strconv.ParseInt(values[1], 10, 64); err != nil {
			continue // a header line followed by another header
		}
		table := strings.TrimSuffix(names[0], ":")
		for j := 1; j < len(names); j++ {
			if v, err := strconv.ParseInt(values[j], 10, 64); err == nil {
				into[table+"."+names[j]] = v
			}
		}
		i++
	}
}

// snmp6Tables are the prefixes of /proc/net/snmp6 names, longest first
// ("UdpLite6InDatagrams" is UdpLite6's, not Udp's).
var snmp6Tables = [...]string{"UdpLite6", "Udp6", "Icmp6", "Ip6"}

// parseSnmp6 reads /proc/net/snmp6's "Udp6InDatagrams  0" lines, keying
// each value "Udp6.InDatagrams".
func parseSnmp6(s string, into map[string]int64) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		for _, t := range snmp6Tables {
			if rest, ok := strings.CutPrefix(f[0], t); ok {
				into[t+"."+rest] = v
				break
			}
		}
	}
}

// counterDeltas returns the nonzero changes from before to after, keyed
// with prefix ("peer.Udp.InDatagrams").
func counterDeltas(prefix string, before, after map[string]int64, into map[string]int64) {
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			into[prefix+"."+k] = d
		}
	}
}
