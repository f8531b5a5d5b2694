package verify

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Render writes s as a human-readable table, one row per datagram (#,
// frames, src → dst, proto, id, len, verdict, reason), followed by the
// diagnostics, one a line.
func Render(w io.Writer, s Summary) error {
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tframes\tsrc → dst\tproto\tid\tlen\tverdict\treason")
	for _, v := range s.Verdicts {
		verdict := "dropped"
		if v.Delivered {
			verdict = "delivered"
		}
		if v.Checksum != "" && v.Checksum != csumOK {
			verdict += " (" + v.Checksum + ")"
		}
		reason := v.Reason
		if v.Code != "" {
			reason = string(v.Code) + ": " + v.Reason
		}
		if v.Note != "" {
			reason = strings.TrimPrefix(reason+"; note: "+v.Note, "; ")
		}
		fmt.Fprintf(tw, "%d\t%s\t%v → %v\t%s\t%d\t%d\t%s\t%s\n",
			v.Datagram, frameList(v.Frames), v.Src, v.Dst, protoName(v.Proto), v.ID, v.Len, verdict, reason)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("render verdicts: %w", err)
	}
	// tabwriter pads a cell even when the cells after it are empty.
	for line := range strings.Lines(table.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return fmt.Errorf("render verdicts: %w", err)
		}
	}
	if len(s.Diagnostics) > 0 {
		if _, err := fmt.Fprintf(w, "\n%d diagnostics:\n", len(s.Diagnostics)); err != nil {
			return fmt.Errorf("render diagnostics: %w", err)
		}
		for _, d := range s.Diagnostics {
			if _, err := fmt.Fprintln(w, "  "+d.String()); err != nil {
				return fmt.Errorf("render diagnostics: %w", err)
			}
		}
	}
	return nil
}

// protoName spells the transport protocol.
func protoName(p uint8) string {
	switch p {
	case protoUDP:
		return "udp"
	case protoUDPLite:
		return "udplite"
	}
	return strconv.Itoa(int(p))
}

// frameList writes sorted frame numbers compactly: "3", "3-5", "1,4-6".
func frameList(fs []int) string {
	var b strings.Builder
	for i := 0; i < len(fs); {
		k := i
		for k+1 < len(fs) && fs[k+1] == fs[k]+1 {
			k++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(fs[i]))
		if k > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(fs[k]))
		}
		i = k + 1
	}
	return b.String()
}
