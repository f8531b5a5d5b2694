package errno

import "testing"

func TestNames(t *testing.T) {
	for _, c := range []struct {
		e    Errno
		name string
	}{{EMSGSIZE, "EMSGSIZE"}, {EOPNOTSUPP, "EOPNOTSUPP"}, {EAGAIN, "EAGAIN"}, {EDESTADDRREQ, "EDESTADDRREQ"}, {ENOBUFS, "ENOBUFS"}} {
		if got := c.e.Name(); got != c.name {
			t.Errorf("%d: Name %q, want %q", uint(c.e), got, c.name)
		}
		if e, ok := Parse(c.name); !ok || e != c.e {
			t.Errorf("Parse(%q) = %v %v", c.name, e, ok)
		}
	}
	for alias, want := range map[string]Errno{"ENOTSUP": EOPNOTSUPP, "EWOULDBLOCK": EAGAIN} {
		if e, ok := Parse(alias); !ok || e != want {
			t.Errorf("Parse(%q) = %v %v", alias, e, ok)
		}
	}
	if _, ok := Parse("ENOTANERRNO"); ok {
		t.Error("Parse accepted a made-up name")
	}
	if Errno(4000).Name() != "errno 4000" {
		t.Errorf("unnamed: %q", Errno(4000).Name())
	}
}
