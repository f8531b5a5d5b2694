package frag

import (
	"slices"
	"testing"
)

// TestMake checks both paths of ip_do_fragment's plan.
func TestMake(t *testing.T) {
	cases := []struct {
		name   string
		skbs   []int
		length int
		space  int
		sizes  []int
		fast   bool
	}{
		{"frag list of whole fragments", []int{1480, 1480, 48}, 3008, 1480, []int{1480, 1480, 48}, true},
		{"last skb any length", []int{1480, 395}, 1875, 1480, []int{1480, 395}, true},
		{"one skb: no list, slow path", []int{3008}, 3008, 1480, []int{1480, 1480, 48}, false},
		{"odd-sized head", []int{1004, 2004}, 3008, 1480, []int{1480, 1480, 48}, false},
		{"middle skb not a multiple of 8", []int{1480, 1004, 524}, 3008, 1480, []int{1480, 1480, 48}, false},
		{"skb over the data space", []int{1488, 1520}, 3008, 1480, []int{1480, 1480, 48}, false},
		{"space not a multiple of 8", []int{4000}, 4000, 1476, []int{1472, 1472, 1056}, false},
		{"mtu 68", []int{48, 48, 12}, 108, 48, []int{48, 48, 12}, true},
	}
	for _, c := range cases {
		p := Make(c.skbs, c.length, c.space, nil)
		if !slices.Equal(p.Sizes, c.sizes) || p.Fast != c.fast {
			t.Errorf("%s: sizes %v fast %v, want %v %v", c.name, p.Sizes, p.Fast, c.sizes, c.fast)
		}
		sum := 0
		for _, n := range p.Sizes {
			sum += n
		}
		if sum != c.length {
			t.Errorf("%s: sizes add up to %d, want %d", c.name, sum, c.length)
		}
	}
}

// TestMakeReusesBuffer: the slow path's sizes go into the caller's buffer.
func TestMakeReusesBuffer(t *testing.T) {
	buf := make([]int, 0, 64)
	p := Make([]int{65515}, 65515, 1480, buf)
	if len(p.Sizes) != 45 || &p.Sizes[0] != &buf[:1][0] {
		t.Fatalf("%d sizes, in the caller's buffer: %v", len(p.Sizes), &p.Sizes[0] == &buf[:1][0])
	}
	if allocs := testing.AllocsPerRun(100, func() { Make([]int{65515}, 65515, 1480, buf) }); allocs != 0 {
		t.Errorf("%v allocations per plan", allocs)
	}
}
