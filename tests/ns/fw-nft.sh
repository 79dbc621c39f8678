#!/bin/sh
# nsrun --setup for a dumpfail: an nftables table with a chain in the container's
# network namespace ($1: its init's pid). Firewall rules are not carried.
set -e
n() { p=$1; shift; nsenter --net=/proc/$p/ns/net -- "$@"; }
n "$1" ip link set lo up
n "$1" nft add table inet zt_fw
n "$1" nft add chain inet zt_fw input '{ type filter hook input priority 0; policy accept; }'
