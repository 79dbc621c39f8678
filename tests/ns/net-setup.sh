#!/bin/sh
# nsrun --setup for ns_net: links, addresses and routes of the container's network
# namespace ($1: the container init's pid), made with the host's iproute2.
set -e
pid=$1
n() { nsenter --net=/proc/$pid/ns/net -- "$@"; }
n ip link set lo up
n ip link add v0 address 02:00:00:aa:bb:cc mtu 1400 type veth peer name v1 address 02:00:00:aa:bb:cd
n ip link set v0 up
n ip link set v1 up
n ip addr add 10.77.1.2/24 dev v0
n ip addr add 10.77.3.2/24 brd 10.77.3.255 dev v0 label v0:alias
n ip addr add fd00:77::2/64 dev v0 nodad
n ip addr add 10.77.1.1/24 dev v1
n ip link add w0 address 02:00:00:00:00:10 type veth peer name w1 address 02:00:00:00:00:11
n ip link set w0 up
n ip addr add 10.77.2.1/30 dev w0
n ip route add 10.99.0.0/16 via 10.77.1.1 dev v0
n ip route add default via 10.77.1.254 dev v0 metric 100
n ip -6 route add fd00:99::/64 via fd00:77::1 dev v0
n sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
# legacy iptables and ip6tables filter tables made (by listing them) but left as the
# kernel makes them: nothing the dump must refuse
n iptables-legacy -t filter -L >/dev/null
n ip6tables-legacy -t filter -L >/dev/null
