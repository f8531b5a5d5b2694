package kernel

import "testing"

func TestVnetReadsUDPL4(t *testing.T) {
	for rel, want := range map[string]bool{
		"6.1.0-57-cloud-amd64":       false,
		"5.15.0-1":                   false,
		"6.2.0":                      true,
		"6.12.117+deb12-cloud-amd64": true,
		"6.18.44-fc-v769":            true,
		"7.0":                        true,
		"garbage":                    true,
	} {
		if got := vnetReadsUDPL4(rel); got != want {
			t.Errorf("vnetReadsUDPL4(%q) = %v, want %v", rel, got, want)
		}
	}
}
