package report_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/report"
)

func TestRecvJSON(t *testing.T) {
	sock := 1
	st := report.Step{Op: "recv", Err: errno.EAGAIN, Socket: &sock, Recv: []report.Recv{
		{Ret: 1000, MsgFlags: []string{"MSG_TRUNC"}, From: "10.0.0.1:40000", Len: 512, Digest: report.Digest([]byte("x")),
			Cmsgs: []report.Cmsg{{Name: "UDP_GRO", Value: "1400"}}},
		{Err: errno.EAGAIN},
	}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"recv","errno":"EAGAIN","socket":1,"recv":[{"ret":1000,"msg_flags":["MSG_TRUNC"],"from":"10.0.0.1:40000","cmsgs":[{"name":"UDP_GRO","value":"1400"}],"len":512,"digest":"2d711642b726b044"},{"errno":"EAGAIN","len":0}]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back report.Step
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip: %+v", back)
	}
	// A send step reads and writes as before the receiving side.
	b, _ = json.Marshal(report.Step{Op: "send", Ret: 3})
	if string(b) != `{"op":"send","ret":3}` {
		t.Fatalf("send step: %s", b)
	}
}

func TestMsgFlagNames(t *testing.T) {
	got := report.MsgFlagNames(0x20 | 0x8 | 0x2000 | 0x10000)
	want := []string{"MSG_CTRUNC", "MSG_TRUNC", "MSG_ERRQUEUE", "0x10000"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
