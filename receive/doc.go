// Package receive re-tells the Linux 6.18 receive path of the peer, the host
// at the other end of the scenario's link: what its kernel does with each
// packet the sender's device puts on the veth (ip_rcv, ip_defrag,
// __udp4_lib_rcv, the socket lookup, __udp_enqueue_schedule_skb), what a
// program reading its sockets gets (udp_recvmsg and its control messages),
// and what it answers when nothing listens (icmp_send's port unreachable,
// rate-limited as the kernel limits it).
//
// Each file is named after the kernel file it re-tells, each stage is a
// function under the kernel's name (camel case; __x is xCore when x is
// modelled too). docs/receive-study.md has the kernel facts, measured on
// 6.18, that the numbers here come from: skb truesize, the receive buffer's
// test, the deferred uncharge of udp_rmem_release, ICMP's rate limits.
//
// The package knows nothing of the sender's model: it takes packets (Skb),
// with the truesize the sender's allocation gave them, and hands its ICMP
// frames to whoever drains Host.Out.
package receive
