#!/bin/sh
# nsrun --setup for a dumpfail: a legacy iptables policy (no rule) in the container's
# network namespace ($1: its init's pid). Firewall rules are not carried.
set -e
n() { p=$1; shift; nsenter --net=/proc/$p/ns/net -- "$@"; }
n "$1" ip link set lo up
n "$1" iptables-legacy -P FORWARD DROP
