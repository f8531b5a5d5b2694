package scenario

import (
	"fmt"

	"github.com/udpbuild/udpbuild/report"
)

// CheckExpect compares each step result of rep, a run of the scenario by
// the model or by the kernel, with its expect, returning one message per
// mismatch ("step 2 (line 14): expected EMSGSIZE, got 1000").
func (sc *Scenario) CheckExpect(rep *report.Report) []string {
	var bad []string
	for n, got := range rep.Steps {
		if msg := sc.CheckStep(n, got); msg != "" {
			bad = append(bad, msg)
		}
	}
	return bad
}

// CheckStep compares the result of executed step n (counting across
// repeats) with its expect; "" when it holds or there is none.
func (sc *Scenario) CheckStep(n int, got report.Step) string {
	if len(sc.Steps) == 0 {
		return ""
	}
	i := n % len(sc.Steps)
	st := sc.Steps[i]
	var want *Expect
	switch {
	case st.Send != nil:
		want = st.Send.Expect
	case st.Recv != nil:
		want = st.Recv.Expect
	}
	if want == nil {
		return ""
	}
	if want.Err == got.Err && (want.Err != 0 || want.Ret == got.Ret) {
		return ""
	}
	where := fmt.Sprintf("step %d (line %d)", i, st.Line)
	if n != i {
		where += fmt.Sprintf(", repeat %d", n/len(sc.Steps))
	}
	return fmt.Sprintf("%s: expected %s, got %s", where, expectString(want), got)
}

// expectString is the expected result as a step result prints: an errno
// name or a byte count.
func expectString(e *Expect) string {
	if e.Err != 0 {
		return e.Err.Name()
	}
	return fmt.Sprint(e.Ret)
}
