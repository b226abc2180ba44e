#!/bin/sh
# Two ranks on two "hosts": network namespaces joined by a veth pair, mpirun
# reaching the second through an rsh agent that enters its namespace, and
# the ranks talking over TCP (Open MPI's tcp transport only). The run must
# give last.ckpt byte for byte as the same two ranks on one host (shared
# memory): the sums do not depend on the transport or the timing.
# Skips where namespaces cannot be made (not root, no CAP_SYS_ADMIN, no ip).
# usage: test_netns.sh DOREFA MPIRUN
set -u
D=$1
MPIRUN=$2
DATA=/usr/share/datasets/fashion-mnist
[ -e $DATA/t10k-labels-idx1-ubyte.gz ] || { echo "test_netns: skipped: no Fashion-MNIST at $DATA"; exit 0; }
command -v ip > /dev/null || { echo "test_netns: skipped: no 'ip' (iproute2)"; exit 0; }
A=drA$$ B=drB$$ VA=va$$ VB=vb$$
T=$(mktemp -d /tmp/dorefa-netns-XXXXXX)
cleanup() { ip netns del $A 2> /dev/null; ip netns del $B 2> /dev/null; rm -rf "$T"; }
trap cleanup EXIT
if ! ip netns add $A 2> /dev/null || ! ip netns add $B 2> /dev/null; then
    echo "test_netns: skipped: cannot create network namespaces here (needs root with CAP_SYS_ADMIN)"
    exit 0
fi
set -e
ip link add $VA type veth peer name $VB
ip link set $VA netns $A
ip link set $VB netns $B
ip -n $A addr add 10.77.0.1/24 dev $VA
ip -n $B addr add 10.77.0.2/24 dev $VB
for ns in $A $B; do ip -n $ns link set lo up; done
ip -n $A link set $VA up
ip -n $B link set $VB up
cat > "$T/rsh" << EOF2
#!/bin/sh
host=\$1; shift
case \$host in 10.77.0.2) ns=$B ;; *) ns=$A ;; esac
exec ip netns exec \$ns sh -c "\$*"
EOF2
chmod +x "$T/rsh"
set +e
ARGS="train --limit-train 512 --limit-test 200 --epochs 2 --batch 64 --threads 1 --quiet"
timeout 300 ip netns exec $A "$MPIRUN" --allow-run-as-root -np 2 --host 10.77.0.1,10.77.0.2 \
    --mca plm_rsh_agent "$T/rsh" --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
    --mca oob_tcp_if_include 10.77.0.0/24 -x OMP_NUM_THREADS=1 "$D" $ARGS --out "$T/tcp" > "$T/tcp.out" 2>&1 ||
    { cat "$T/tcp.out"; echo "FAIL: the run over two namespaces failed"; exit 1; }
timeout 300 "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$D" $ARGS --out "$T/shm" > "$T/shm.out" 2>&1 ||
    { cat "$T/shm.out"; echo "FAIL: the run on one host failed"; exit 1; }
cmp "$T/tcp/last.ckpt" "$T/shm/last.ckpt" || { echo "FAIL: TCP between namespaces and shared memory differ"; exit 1; }
echo "test_netns: two namespaces over TCP give the one-host run's last.ckpt byte for byte"
