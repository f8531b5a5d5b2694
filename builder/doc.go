// Package builder is udpbuild's model of the Linux IPv4 and IPv6 UDP send
// paths. Each
// stage is a function under the kernel's name, in a file named after the
// kernel source it re-tells, so that a reader with the kernel open beside
// this package finds the same decision in the same place:
//
//	udp.go          net/ipv4/udp.c          udp_sendmsg (Socket.Sendmsg), udp_push_pending_frames,
//	                                        udp_send_skb, udp4_hwcsum, udp_lib_setsockopt
//	ip_output.go    net/ipv4/ip_output.c    ip_setup_cork, ip_append_data, ip_make_skb,
//	                                        __ip_append_data, __ip_make_skb, ip_send_skb,
//	                                        __ip_local_out, ip_finish_output, ip_do_fragment
//	ip.go           include/net/ip.h        ipcm_cookie, ip_sk_ignore_df, ip_dont_fragment,
//	                                        ip_select_ident_segs
//	route.go        net/ipv4/route.c        the route to the device, ip_idents_reserve
//	ip_sockglue.go  net/ipv4/ip_sockglue.c  do_ip_setsockopt
//	datagram.go     net/ipv4/datagram.c     __ip4_datagram_connect (Socket.Connect)
//	udp_offload.go  net/ipv4/udp_offload.c  __udp_gso_segment
//	udpv6.go        net/ipv6/udp.c          udpv6_sendmsg, udp_v6_push/flush_pending_frames
//	ip6_output.go   net/ipv6/ip6_output.c   ip6_setup_cork, ip6_append_data, ip6_make_skb,
//	                                        __ip6_append_data, __ip6_make_skb, ip6_send_skb,
//	                                        ip6_finish_output, ip6_fragment
//	ipv6.go         include/net/ipv6.h      ipcm6_cookie, ip6_make_flowlabel, hop limit
//	exthdrs.go      net/ipv6/exthdrs.c      extension headers and their pushes
//	output_core.go  net/ipv6/output_core.c  ipv6_select_ident, ip6_find_1stfragopt
//	ipv6_sockglue.go net/ipv6/ipv6_sockglue.c do_ipv6_setsockopt, ipv6_set_opt_hdr
//	ipv6_datagram.go net/ipv6/datagram.c    __ip6_datagram_connect (Socket.Connect6)
//	dev.go          net/core/dev.c          netdev_fix_features, dev_queue_xmit,
//	                                        validate_xmit_skb, skb_checksum_help, xmit_one
//	skbuff.go       net/core/skbuff.c       the skbs a datagram is built from, their sizes
//	socket.go       include/net/sock.h ...  the socket's state, sk_setsockopt
//	family.go       -                       what the shared stages ask of the address family
//	link.go         -                       frames and their provenance, the sink that watches
//	run.go, against.go                      playing a scenario; runs to compare with the kernel
//
// One send goes, in order: Sendmsg (udp_sendmsg) -> ipMakeSkb (lockless)
// or ipAppendData (corked) -> ipAppendDataCore (__ip_append_data) ->
// ipMakeSkbCore (__ip_make_skb) -> udpSendSkb (udp_send_skb) -> ipSendSkb
// (ip_send_skb, __ip_local_out) -> ipFinishOutput, the one decision (whole,
// fragment, GSO by the device or in software, EMSGSIZE) -> ipDoFragment or
// Device.queueXmit (dev_queue_xmit; udpGSOSegment, skbChecksumHelp) ->
// xmitOne -> the device's FrameSink. docs/architecture.md draws it, with
// the family seam IPv6 plugs into.
//
// The model is deterministic: where the kernel draws random numbers (IP ID
// counters, a connected socket's inet_id, IPv6 fragment identifications,
// sk_txhash and the flow-label hash key) it draws them from a seed.
package builder
