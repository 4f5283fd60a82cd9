"""Four real MinIO server processes (tests/minio_server.py's release) form ONE distributed cluster from
the one ellipsis argument of roles/minio/filter_plugins/minio_pool.py, and that cluster is one server
pool that MinIO's pool API knows (so a second pool can be added later); main's drive-by-drive list is
a legacy layout the pool API refuses, and the same drives restarted with the ellipsis argument keep
their objects (what `up` does to an existing four-host install). No Docker.

Why network namespaces and not 127.0.0.1..4 (minio/minio RELEASE.2025-09-07T16-13-09Z): MinIO never
takes loopback addresses as four hosts. Where it believes it runs in a container (cmd/update.go
IsDocker: a /.dockerenv, which the project's machines have) it waits forever for each loopback host to
"resolve to a valid IP" (cmd/endpoint.go UpdateIsLocal, hostResolveToLocalhost; seen here with
http://127.0.0.{1...4}:PORT/...); elsewhere cmd/net.go isLocalHost maps every loopback IP to
127.0.0.1, so each node takes all four hosts for itself and refuses to start ("all local endpoints
should not have different hostnames/ips", cmd/endpoint.go). MinIO's own one-machine scripts vary the
port instead (buildscripts/verify-build.sh), which is not the product's
layout (one port, four hosts). So each node runs in a network namespace of its own (and a mount
namespace, so that every node has its drives at the same path, as each host has /data1 ...),
joined by a bridge in a hub namespace from which the test probes. All of it exists only inside
namespaces this test creates (unshare), addressed 10.238.77.0/24, which nothing outside them routes;
the machine's own network is untouched and every process is stopped by its PID at the end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import minio_server

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("minio_pool", ROOT / "roles/minio/filter_plugins/minio_pool.py")
minio_pool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(minio_pool)

USER, PASSWORD = "clearstack-test", "minio-test-password-03"
NET = "10.238.77"  # inside this test's namespaces only; no lab, Docker pool or Molecule scenario uses 10.238/16
HUB_ADDRESS = f"{NET}.100"
NODES = 4
DRIVES = 2
PORT, CONSOLE_PORT = 9000, 9001  # each node has its own network namespace: no port is shared with anything
START_TIMEOUT_S = 120
CMD_TIMEOUT_S = 30

# Run in the hub namespace: poll /minio/health/cluster of every node (bounded), then ask node 1's admin
# API (SigV4 with the root credentials, as `mc admin` does) for the pools and the servers.
PROBE = textwrap.dedent("""
    import hashlib, json, sys, time, urllib.error, urllib.request
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    nodes, user, password, timeout = json.loads(sys.argv[1])
    def get(url, sign=False):
        headers = {}
        if sign:
            req = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
            S3SigV4Auth(Credentials(user, password), "s3", "us-east-1").add_auth(req)
            headers = dict(req.headers)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError as err:
            return 0, str(err)
    deadline, status = time.monotonic() + timeout, {}
    for _ in range(int(timeout / 0.5) + 1):
        status = {n: get(f"http://{n}/minio/health/cluster")[0] for n in nodes}
        if set(status.values()) == {200} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    out = {"health": status}
    if set(status.values()) == {200}:
        out["pools"] = get(f"http://{nodes[0]}/minio/admin/v3/pools/list", sign=True)
        out["info"] = get(f"http://{nodes[0]}/minio/admin/v3/info", sign=True)
        op = sys.argv[2] if len(sys.argv) > 2 else ""
        if op:
            import boto3
            s3 = boto3.client("s3", endpoint_url=f"http://{nodes[1]}", region_name="us-east-1",
                              aws_access_key_id=user, aws_secret_access_key=password)
            if op == "put":
                s3.create_bucket(Bucket="kept")
                s3.put_object(Bucket="kept", Key="a.bin", Body=b"kept across the command change")
            out["object"] = s3.get_object(Bucket="kept", Key="a.bin")["Body"].read().decode()
    print(json.dumps(out))
""")


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=CMD_TIMEOUT_S)


class NamespaceCluster:
    """A hub network namespace with a bridge, and per node a network + mount namespace wired to it,
    each held open by a `sleep` this test started (unshare execs it, so its PID names the namespaces)."""

    def __init__(self, root: Path):
        self.root = root
        self.holders: list[subprocess.Popen] = []
        self.servers: list[subprocess.Popen] = []
        self.hub = self._hold("--net")
        self.nodes = [self._hold("--net", "--mount", "--propagation", "private") for _ in range(NODES)]
        self.addresses = [f"{NET}.{i}" for i in range(1, NODES + 1)]
        self.mount = root / "drives"  # every node sees ITS drives here, as each host has /data1 ...
        self.mount.mkdir()
        self.drive_path = str(self.mount / "data")  # the drives: <mount>/data1, <mount>/data2
        hub = self._in(self.hub, net=True)
        _run(*hub, "ip", "link", "set", "lo", "up")
        _run(*hub, "ip", "link", "add", "name", "br0", "type", "bridge")
        for i, node in enumerate(self.nodes, start=1):
            # Made inside the hub, its peer moved straight into the node: never in the machine's namespace.
            _run(*hub, "ip", "link", "add", "name", f"n{i}", "type", "veth", "peer", "name", "eth0", "netns", str(node.pid))
            _run(*hub, "ip", "link", "set", f"n{i}", "master", "br0", "up")
            inside = self._in(node, net=True, mount=True)
            _run(*inside, "ip", "link", "set", "lo", "up")
            _run(*inside, "ip", "addr", "add", f"{NET}.{i}/24", "dev", "eth0")
            _run(*inside, "ip", "link", "set", "eth0", "up")
            own = root / f"node{i}"
            for d in range(1, DRIVES + 1):
                (own / f"data{d}").mkdir(parents=True)
            _run(*inside, "mount", "--bind", str(own), str(self.mount))
        _run(*hub, "ip", "addr", "add", f"{HUB_ADDRESS}/24", "dev", "br0")
        _run(*hub, "ip", "link", "set", "br0", "up")

    def _hold(self, *flags: str) -> subprocess.Popen:
        proc = subprocess.Popen(["unshare", *flags, "--", "sleep", "infinity"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.holders.append(proc)
        return proc

    @staticmethod
    def _in(proc: subprocess.Popen, net: bool = False, mount: bool = False) -> list[str]:
        cmd = ["nsenter", f"--target={proc.pid}"]
        return cmd + (["--net"] if net else []) + (["--mount"] if mount else []) + ["--"]

    def start(self, args: list[str], tag: str) -> None:
        """`minio server` on every node with the same drive arguments, each bound to its own address."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(self.root),
               "MINIO_ROOT_USER": USER, "MINIO_ROOT_PASSWORD": PASSWORD,
               "MINIO_CI_CD": "1"}  # drives on the root file system are allowed (see tests/minio_server.py)
        for i, node in enumerate(self.nodes, start=1):
            log = (self.root / f"minio{i}-{tag}.log").open("w")
            self.servers.append(subprocess.Popen(
                [*self._in(node, net=True, mount=True), str(minio_server.binary()), "server",
                 "--address", f"{NET}.{i}:{PORT}", "--console-address", f"{NET}.{i}:{CONSOLE_PORT}", *args],
                cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))
            log.close()

    def probe(self, op: str = "") -> dict:
        nodes = [f"{a}:{PORT}" for a in self.addresses]
        done = subprocess.run([*self._in(self.hub, net=True), sys.executable, "-c", PROBE,
                               json.dumps([nodes, USER, PASSWORD, START_TIMEOUT_S]), op],
                              capture_output=True, text=True, timeout=START_TIMEOUT_S + 60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def logs(self, tag: str) -> str:
        return "\n".join(f"--- minio{i}:\n" + "\n".join((self.root / f"minio{i}-{tag}.log").read_text().splitlines()[-15:])
                         for i in range(1, NODES + 1))

    def stop_servers(self) -> None:
        """SIGTERM to each server this test started (its own session, by PID), SIGKILL if it lingers."""
        for proc in self.servers:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.servers:
            try:
                proc.wait(timeout=minio_server.STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=minio_server.STOP_TIMEOUT_S)
        self.servers = []

    def close(self) -> None:
        self.stop_servers()
        for proc in self.holders:  # the namespaces (veths, bridge, mounts) go with their last process
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=minio_server.STOP_TIMEOUT_S)


@pytest.fixture
def cluster(tmp_path):
    minio_server.binary_or_fail()
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
        pytest.fail("this test needs root with unshare, nsenter (util-linux) and ip (iproute2): the project's "
                    "machines have them", pytrace=False)
    ns = NamespaceCluster(tmp_path)
    try:
        yield ns
    finally:
        ns.close()


def _servers(probe: dict) -> list[dict]:
    status, body = probe["info"]
    assert status == 200, body
    return json.loads(body)["servers"]


def test_four_nodes_from_the_filters_argument_are_one_server_pool(cluster):
    arg = minio_pool.minio_pool_arg(cluster.addresses[::-1], PORT, DRIVES, path=cluster.drive_path)
    assert arg == f"http://{NET}.{{1...4}}:{PORT}{cluster.drive_path}{{1...2}}"
    cluster.start([arg], "pool")
    probe = cluster.probe()
    assert set(probe["health"].values()) == {200}, (probe, cluster.logs("pool"))

    servers = _servers(probe)
    assert sorted(s["endpoint"] for s in servers) == [f"{a}:{PORT}" for a in cluster.addresses]
    assert {s["state"] for s in servers} == {"online"}
    drives = [d for s in servers for d in s["drives"]]
    assert len(drives) == NODES * DRIVES and {d["pool_index"] for d in drives} == {0}, drives

    # MinIO's pool API answers for a layout written with ellipses, and lists exactly one pool: this argument.
    status, body = probe["pools"]
    assert status == 200, body
    assert [p["cmdline"] for p in json.loads(body)] == [arg]


def test_mains_drive_by_drive_list_is_legacy_and_the_same_drives_take_the_pool_argument(cluster):
    path = cluster.drive_path
    # What main's roles/minio/vars/main.yml wrote: every drive listed, data1 of every host, then data2.
    legacy = [f"http://{a}:{PORT}{path}{d}" for d in range(1, DRIVES + 1) for a in cluster.addresses]
    cluster.start(legacy, "legacy")
    before = cluster.probe("put")
    assert set(before["health"].values()) == {200}, (before, cluster.logs("legacy"))
    status, body = before["pools"]
    assert status == 501 and "NotImplemented" in body, (status, body)  # a legacy layout: no pool can join it
    assert before["object"] == "kept across the command change"
    cluster.stop_servers()

    # `up` after this change: every node restarted together with the one ellipsis argument, same drives.
    arg = minio_pool.minio_pool_arg(cluster.addresses, PORT, DRIVES, path=path)
    cluster.start([arg], "pool")
    after = cluster.probe("get")
    assert set(after["health"].values()) == {200}, (after, cluster.logs("pool"))
    status, body = after["pools"]
    assert status == 200 and [p["cmdline"] for p in json.loads(body)] == [arg], body
    assert after["object"] == "kept across the command change"
