"""The MinIO stand-in (tests/standins/minio) behaves like a four-node MinIO deployment for boto3.

Nodes run as SUBPROCESSES on 127.0.0.1 (distinct ports, drives in tmp_path), started through the
``minio`` entry script exactly as a container CMD would (``minio server --address ... URL...``);
command-line refusals go through ``python -m tests.standins.minio``. Every wait is bounded, all
traffic stays on loopback, and every process a test starts is stopped in fixture teardown
(SIGTERM, then SIGKILL after a bounded wait).
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from .minio import endpoints

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "tests" / "standins" / "minio" / "minio"
USER, PASSWORD = "standin-admin", "standin-secret-0001"
START_TIMEOUT = 20.0   # seconds for a node to answer /minio/health/live
STOP_TIMEOUT = 10.0    # seconds for SIGTERM before SIGKILL
NOTICE_TIMEOUT = 10.0  # seconds for the nodes to notice a peer going or coming (they poll every 0.5 s)
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def http_status(url: str, method: str = "GET") -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def error_code(excinfo) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


class Node:
    def __init__(self, index: int, port: int, console_port: int, drives: list[Path], log: Path):
        self.index, self.port, self.console_port, self.drives, self.log = index, port, console_port, drives, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class StandinCluster:
    """N stand-in nodes on loopback; node i keeps its drives under tmp/node<i>/."""

    def __init__(self, tmp: Path, nodes: int = 4, drives_per_node: int = 1):
        ports = free_ports(2 * nodes)
        self.nodes = []
        for i in range(nodes):
            drives = [tmp / f"node{i + 1}" / f"data{d + 1}" for d in range(drives_per_node)]
            for d in drives:
                d.mkdir(parents=True)
            self.nodes.append(Node(i + 1, ports[2 * i], ports[2 * i + 1], drives, tmp / f"node{i + 1}.log"))
        # Explicit list (no ellipsis: the ports are not a range); every node gets the same list.
        self.urls = [f"http://127.0.0.1:{n.port}{d}" for n in self.nodes for d in n.drives]

    def node(self, i: int) -> Node:
        return self.nodes[i - 1]

    def start(self, *indexes: int) -> None:
        for i in indexes:
            node = self.node(i)
            assert node.proc is None, f"node {i} already running"
            env = {**os.environ, "MINIO_ROOT_USER": USER, "MINIO_ROOT_PASSWORD": PASSWORD,
                   "MINIO_STANDIN_SELF": f"127.0.0.1:{node.port}", "MINIO_STANDIN_LOG": "INFO"}
            with open(node.log, "ab") as log:
                node.proc = subprocess.Popen(
                    [sys.executable, str(ENTRY), "server", "--address", f"127.0.0.1:{node.port}",
                     "--console-address", f"127.0.0.1:{node.console_port}", *self.urls],
                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        for i in indexes:
            node = self.node(i)

            def live(node=node):
                if node.proc.poll() is not None:
                    raise AssertionError(f"node {node.index} exited {node.proc.returncode}:\n{node.log.read_text()}")
                return http_status(node.url + "/minio/health/live") == 200

            wait_for(live, START_TIMEOUT, f"node {i} to serve")
        # As a deployment would: wait until the started nodes see write quorum.
        wait_for(lambda: all(self.health(i) == 200 for i in indexes), START_TIMEOUT, "write quorum")

    def stop(self, *indexes: int) -> dict[int, int]:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns {node: exit status} (0 = clean stop)."""
        for i in indexes:
            proc = self.node(i).proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for i in indexes:
            node = self.node(i)
            if node.proc is None:
                continue
            try:
                codes[i] = node.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(STOP_TIMEOUT)
                codes[i] = "killed after SIGTERM timed out"
            node.proc = None
        return codes

    def stop_all(self) -> dict[int, int]:
        return self.stop(*(n.index for n in self.nodes))

    def client(self, i: int, secret: str = PASSWORD, access_key: str = USER):
        # One attempt: a refusal must show, not be retried away (boto3 retries 503 by default).
        return boto3.client("s3", endpoint_url=self.node(i).url, region_name="us-east-1",
                            aws_access_key_id=access_key, aws_secret_access_key=secret,
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                          retries={"total_max_attempts": 1}))

    def health(self, i: int, path: str = "cluster") -> int | None:
        return http_status(f"{self.node(i).url}/minio/health/{path}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A healthy four-node cluster shared by the tests that stop no node."""
    c = StandinCluster(tmp_path_factory.mktemp("minio4"))
    try:
        t0 = time.monotonic()
        c.start(1, 2, 3, 4)
        print(f"[timing] 4 nodes serving in {time.monotonic() - t0:.2f} s")
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def own_cluster(tmp_path):
    """A four-node cluster (2 drives per node) that a test may stop and restart."""
    c = StandinCluster(tmp_path, drives_per_node=2)
    try:
        c.start(1, 2, 3, 4)
        yield c
    finally:
        c.stop_all()


def new_bucket(client) -> str:
    name = f"bucket-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    return name


# ---------------------------------------------------------------------------------------------
# one cluster: replication, S3 operations
# ---------------------------------------------------------------------------------------------

def test_objects_written_through_one_node_are_served_by_every_node(cluster):
    s3 = [None] + [cluster.client(i) for i in range(1, 5)]
    bucket = new_bucket(s3[1])
    with pytest.raises(ClientError) as exc:
        s3[3].create_bucket(Bucket=bucket)
    assert error_code(exc) == ("BucketAlreadyOwnedByYou", 409)
    s3[1].put_object(Bucket=bucket, Key="dir/hello world+1.txt", Body=b"hello from node 1",
                     ContentType="text/plain", Metadata={"origin": "node1"})
    for i in (2, 3, 4):
        s3[i].head_bucket(Bucket=bucket)
        assert bucket in [b["Name"] for b in s3[i].list_buckets()["Buckets"]]
        listing = s3[i].list_objects_v2(Bucket=bucket)
        assert [o["Key"] for o in listing["Contents"]] == ["dir/hello world+1.txt"]
        got = s3[i].get_object(Bucket=bucket, Key="dir/hello world+1.txt")
        assert got["Body"].read() == b"hello from node 1"
        assert got["ContentType"] == "text/plain" and got["Metadata"] == {"origin": "node1"}
        assert got["ETag"] == '"%s"' % hashlib.md5(b"hello from node 1").hexdigest()
    part = s3[2].get_object(Bucket=bucket, Key="dir/hello world+1.txt", Range="bytes=6-9")
    assert part["Body"].read() == b"from" and part["ContentRange"] == "bytes 6-9/17"
    assert s3[3].list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"] == [{"Prefix": "dir/"}]

    s3[2].copy_object(Bucket=bucket, Key="copy.txt", CopySource={"Bucket": bucket, "Key": "dir/hello world+1.txt"})
    assert s3[4].get_object(Bucket=bucket, Key="copy.txt")["Body"].read() == b"hello from node 1"
    s3[4].delete_object(Bucket=bucket, Key="copy.txt")
    for i in (1, 2, 3):
        with pytest.raises(ClientError) as exc:
            s3[i].get_object(Bucket=bucket, Key="copy.txt")
        assert error_code(exc) == ("NoSuchKey", 404)

    with pytest.raises(ClientError) as exc:
        s3[3].delete_bucket(Bucket=bucket)
    assert error_code(exc) == ("BucketNotEmpty", 409)
    s3[3].delete_object(Bucket=bucket, Key="dir/hello world+1.txt")
    s3[3].delete_bucket(Bucket=bucket)
    for i in (1, 2, 4):
        with pytest.raises(ClientError) as exc:
            s3[i].list_objects_v2(Bucket=bucket)
        assert error_code(exc) == ("NoSuchBucket", 404)
    # The objects live on the nodes' drives, not only in memory.
    assert any(cluster.node(1).drives[0].glob(".minio.sys/records/*/*.json"))


def test_multipart_upload_spread_over_nodes_like_a_load_balancer_does(cluster):
    s3 = [None] + [cluster.client(i) for i in range(1, 5)]
    bucket = new_bucket(s3[1])
    data = os.urandom(12 * MIB)
    chunks = [data[:5 * MIB], data[5 * MIB:10 * MIB], data[10 * MIB:]]
    t0 = time.monotonic()
    upload = s3[1].create_multipart_upload(Bucket=bucket, Key="big.bin", ContentType="application/zip")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3[1 + n].upload_part(Bucket=bucket, Key="big.bin", UploadId=upload,
                                                              PartNumber=n, Body=chunk)["ETag"]}
             for n, chunk in enumerate(chunks, start=1)]
    done = s3[4].complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload,
                                           MultipartUpload={"Parts": parts})
    assert done["ETag"].endswith('-3"')
    for i in (1, 2, 3):
        got = s3[i].get_object(Bucket=bucket, Key="big.bin")
        assert got["ContentLength"] == len(data) and got["ContentType"] == "application/zip"
        assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(data).digest()
    assert s3[2].list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    # boto3's managed transfer (what the ClearML SDK uses): 8 MiB multipart threshold, ranged GETs.
    s3[3].upload_fileobj(io.BytesIO(data), bucket, "managed.bin")
    out = io.BytesIO()
    s3[2].download_fileobj(bucket, "managed.bin", out)
    assert out.getvalue() == data
    print(f"[timing] 2 x 12 MiB multipart round trips in {time.monotonic() - t0:.2f} s")

    aborted = s3[1].create_multipart_upload(Bucket=bucket, Key="gone.bin")["UploadId"]
    s3[2].abort_multipart_upload(Bucket=bucket, Key="gone.bin", UploadId=aborted)
    with pytest.raises(ClientError) as exc:
        s3[3].upload_part(Bucket=bucket, Key="gone.bin", UploadId=aborted, PartNumber=1, Body=b"x")
    assert error_code(exc) == ("NoSuchUpload", 404)


def test_listing_pages_by_1000_and_by_max_keys(cluster):
    s3 = [None] + [cluster.client(i) for i in range(1, 5)]
    bucket = new_bucket(s3[1])
    keys = [f"imgs/cam{k % 3}/{k:05d}.png" for k in range(1005)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3[1 + hash(k) % 4].put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    print(f"[timing] 1005 PUTs spread over 4 nodes in {time.monotonic() - t0:.2f} s")

    def pages(client, **kwargs):
        return [p.get("KeyCount", 0) for p in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kwargs)]

    assert pages(s3[2]) == [1000, 5]
    assert pages(s3[3], PaginationConfig={"PageSize": 100}) == [100] * 10 + [5]
    listed = [o["Key"] for p in s3[4].get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p["Contents"]]
    assert listed == sorted(keys)
    top = s3[4].list_objects_v2(Bucket=bucket, Prefix="imgs/", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["imgs/cam0/", "imgs/cam1/", "imgs/cam2/"]
    assert top["KeyCount"] == 3
    # Paging across common prefixes: one prefix per page, none repeated.
    per_page = [p["CommonPrefixes"][0]["Prefix"] for p in s3[1].get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="imgs/", Delimiter="/", PaginationConfig={"PageSize": 1})]
    assert per_page == ["imgs/cam0/", "imgs/cam1/", "imgs/cam2/"]
    # ListObjects v1, as boto3's resource API (and so the ClearML SDK) lists a prefix.
    resource = boto3.resource("s3", endpoint_url=cluster.node(2).url, region_name="us-east-1",
                              aws_access_key_id=USER, aws_secret_access_key=PASSWORD)
    assert sum(1 for _ in resource.Bucket(bucket).objects.filter(Prefix="imgs/cam1/")) == 335

    for start in range(0, len(keys), 1000):
        result = s3[3].delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})
        assert len(result["Deleted"]) == len(keys[start:start + 1000]) and "Errors" not in result
    for i in (1, 2, 4):
        assert s3[i].list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_requests_must_be_signed_with_the_root_credentials(cluster):
    good = cluster.client(1)
    bucket = new_bucket(good)
    good.put_object(Bucket=bucket, Key="k", Body=b"v")

    with pytest.raises(ClientError) as exc:
        cluster.client(2, secret="not-the-secret").list_objects_v2(Bucket=bucket)
    assert error_code(exc) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as exc:
        cluster.client(3, access_key="someone-else").get_object(Bucket=bucket, Key="k")
    assert error_code(exc) == ("InvalidAccessKeyId", 403)
    with pytest.raises(ClientError) as exc:
        cluster.client(4, secret="not-the-secret").put_object(Bucket=bucket, Key="evil", Body=b"x")
    assert error_code(exc) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError):
        good.head_object(Bucket=bucket, Key="evil")

    with pytest.raises(urllib.error.HTTPError) as http_exc:  # no signature at all
        urllib.request.urlopen(f"{cluster.node(1).url}/{bucket}/k", timeout=5)
    assert http_exc.value.code == 403 and b"<Code>AccessDenied</Code>" in http_exc.value.read()

    # A correctly signed request whose body is not the one signed: the payload hash is checked.
    url = f"{cluster.node(2).url}/{bucket}/tampered"
    request = AWSRequest("PUT", url, data=b"signed body",
                         headers={"x-amz-content-sha256": hashlib.sha256(b"signed body").hexdigest()})
    S3SigV4Auth(Credentials(USER, PASSWORD), "s3", "us-east-1").add_auth(request)
    forged = urllib.request.Request(url, data=b"other body", method="PUT",
                                    headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"})
    with pytest.raises(urllib.error.HTTPError) as http_exc:
        urllib.request.urlopen(forged, timeout=5)
    assert http_exc.value.code == 400 and b"XAmzContentSHA256Mismatch" in http_exc.value.read()

    # Presigned (query) SigV4, here for node 3: the host is part of what is signed.
    presigned = cluster.client(3).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                                         ExpiresIn=60)
    with urllib.request.urlopen(presigned, timeout=5) as resp:
        assert resp.read() == b"v"
    with pytest.raises(urllib.error.HTTPError) as http_exc:
        urllib.request.urlopen(presigned.replace("/k?", "/other?"), timeout=5)
    assert http_exc.value.code == 403


class _FixedPayloadAuth(S3SigV4Auth):
    """botocore's SigV4 signer, but declaring a given x-amz-content-sha256 (e.g. a STREAMING-* one)."""

    def __init__(self, payload_hash: str):
        super().__init__(Credentials(USER, PASSWORD), "s3", "us-east-1")
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash


def test_chunked_and_aws_chunked_uploads(cluster):
    """Bodies in HTTP chunked transfer coding, and in aws-chunked coding (minio-go/mc stream uploads so)."""
    import http.client
    import hmac

    bucket = new_bucket(cluster.client(1))
    host_port = f"127.0.0.1:{cluster.node(2).port}"
    chunks = [os.urandom(70_000), os.urandom(1000)]

    # 1. Transfer-Encoding: chunked, UNSIGNED-PAYLOAD.
    request = AWSRequest("PUT", f"http://{host_port}/{bucket}/chunked", headers={"Transfer-Encoding": "chunked"})
    _FixedPayloadAuth("UNSIGNED-PAYLOAD").add_auth(request)
    conn = http.client.HTTPConnection(host_port, timeout=10)
    conn.request("PUT", f"/{bucket}/chunked", body=iter(chunks), headers=dict(request.headers.items()),
                 encode_chunked=True)
    assert conn.getresponse().status == 200
    conn.close()

    # 2. Content-Encoding: aws-chunked with chunk signatures chained from the seed signature.
    streaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    frames = [*chunks, b""]
    request = AWSRequest("PUT", f"http://{host_port}/{bucket}/aws-chunked",
                         headers={"Content-Encoding": "aws-chunked",
                                  "x-amz-decoded-content-length": str(sum(map(len, chunks)))})
    _FixedPayloadAuth(streaming).add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = ("AWS4" + PASSWORD).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    body = b""
    for frame in frames:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous,
                             hashlib.sha256(b"").hexdigest(), hashlib.sha256(frame).hexdigest()])
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += f"{len(frame):x};chunk-signature={previous}\r\n".encode() + frame + b"\r\n"
    conn = http.client.HTTPConnection(host_port, timeout=10)
    conn.request("PUT", f"/{bucket}/aws-chunked", body=body, headers=dict(request.headers.items()))
    assert conn.getresponse().status == 200
    conn.close()

    for key_name in ("chunked", "aws-chunked"):
        got = cluster.client(3).get_object(Bucket=bucket, Key=key_name)
        assert got["Body"].read() == b"".join(chunks), key_name
        assert got["ETag"] == '"%s"' % hashlib.md5(b"".join(chunks)).hexdigest()


def test_health_endpoints_and_console_page(cluster):
    for i in (1, 2, 3, 4):
        for path in ("live", "ready", "cluster", "cluster/read", "cluster?maintenance=true"):
            assert cluster.health(i, path) == 200, (i, path)
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.node(1).console_port}/", timeout=5) as resp:
        assert b"stand-in" in resp.read()


# ---------------------------------------------------------------------------------------------
# quorum, catch-up, persistence
# ---------------------------------------------------------------------------------------------

def test_write_quorum_and_catch_up_after_restarts(own_cluster):
    c = own_cluster
    t0 = time.monotonic()
    s3 = {i: c.client(i) for i in (1, 2, 3, 4)}
    bucket = new_bucket(s3[1])
    s3[1].put_object(Bucket=bucket, Key="before", Body=b"written with 4 nodes")
    s3[1].put_object(Bucket=bucket, Key="doomed", Body=b"deleted while node 4 is down")

    # One node down: 3 of 4 nodes (6 of 8 drives) still make write quorum (5 drives for 8 x EC:4).
    assert c.stop(4) == {4: 0}
    wait_for(lambda: all(c.health(i, "cluster?maintenance=true") == 412 for i in (1, 2, 3)), NOTICE_TIMEOUT,
             "nodes 1-3 to notice node 4 is down (taking one more down would lose quorum)")
    assert all(c.health(i) == 200 for i in (1, 2, 3))
    s3[1].put_object(Bucket=bucket, Key="while-4-down", Body=b"3 nodes up")
    s3[2].delete_object(Bucket=bucket, Key="doomed")

    # Two nodes down: no write quorum; reads still have read quorum (4 of 8 drives).
    assert c.stop(3) == {3: 0}
    wait_for(lambda: c.health(1) == 503 and c.health(2) == 503, NOTICE_TIMEOUT, "cluster health 503 on nodes 1-2")
    assert c.health(1, "cluster/read") == 200
    for i in (1, 2):
        with pytest.raises(ClientError) as exc:
            s3[i].put_object(Bucket=bucket, Key="refused", Body=b"no quorum")
        assert error_code(exc) == ("SlowDownWrite", 503)
    assert s3[2].get_object(Bucket=bucket, Key="while-4-down")["Body"].read() == b"3 nodes up"

    # The stopped nodes come back, catch up before serving, and quorum returns.
    c.start(3, 4)
    wait_for(lambda: all(c.health(i) == 200 for i in (1, 2, 3, 4)), NOTICE_TIMEOUT, "cluster health 200 again")
    for i in (3, 4):
        assert s3[i].get_object(Bucket=bucket, Key="while-4-down")["Body"].read() == b"3 nodes up"
        keys = [o["Key"] for o in s3[i].list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == ["before", "while-4-down"], f"node {i} lists {keys}"
    s3[4].put_object(Bucket=bucket, Key="after", Body=b"4 nodes again")

    # Whole cluster restart: every node serves everything from its own drives.
    assert c.stop_all() == {1: 0, 2: 0, 3: 0, 4: 0}
    c.start(1, 2, 3, 4)
    for i in (1, 2, 3, 4):
        client = c.client(i)
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == ["after", "before", "while-4-down"], f"node {i} lists {keys}"
        assert client.get_object(Bucket=bucket, Key="after")["Body"].read() == b"4 nodes again"
    print(f"[timing] quorum and restart scenario in {time.monotonic() - t0:.2f} s")


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------

def run_cli(args: list[str], env_overrides: dict | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    env = {**os.environ, "MINIO_ROOT_USER": USER, "MINIO_ROOT_PASSWORD": PASSWORD}
    env.pop("MINIO_STANDIN_SELF", None)
    env.update(env_overrides or {})
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "tests.standins.minio", "server", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("case", [
    "two-dots", "descending", "non-numeric", "unclosed", "missing-drive", "drive-is-a-file", "17-drives",
    "mixed-styles", "https", "not-this-node", "short-password", "short-user", "no-credentials",
])
def test_command_line_refusals(case, tmp_path):
    d = tmp_path / "d"
    (tmp_path / "file").write_text("not a directory")
    for i in range(1, 5):
        (tmp_path / f"d{i}").mkdir()
    address = ["--address", "127.0.0.1:1"]  # never bound: every case is refused before serving
    args, env, expected = {
        "two-dots": ([f"{d}{{1..4}}"], {}, "Invalid ellipsis format"),
        "descending": ([f"{d}{{4...1}}"], {}, "cannot be bigger than end"),
        "non-numeric": ([f"{d}{{x...z}}"], {}, "invalid number"),
        "unclosed": ([f"{d}{{1...4"], {}, "Invalid ellipsis format"),
        "missing-drive": ([str(tmp_path / "nope")], {}, "does not exist"),
        "drive-is-a-file": ([str(tmp_path / "file")], {}, "is not a directory"),
        "17-drives": ([f"{d}{{1...17}}"], {}, "not divisible by any supported erasure set sizes"),
        "mixed-styles": (["http://127.0.0.1:1/data", str(tmp_path / "d1")], {}, "mixed style endpoints"),
        "https": ([f"https://127.0.0.1:1{tmp_path}/d{{1...4}}"], {}, "https endpoints are not supported"),
        "not-this-node": ([f"http://127.0.0.1:{{2...5}}{tmp_path}/d1"], {},
                          "no endpoint pointing to the local machine"),
        "short-password": ([str(tmp_path / "d1")], {"MINIO_ROOT_PASSWORD": "1234567"}, "at least 8 characters"),
        "short-user": ([str(tmp_path / "d1")], {"MINIO_ROOT_USER": "ab"}, "at least 3 characters"),
        "no-credentials": ([str(tmp_path / "d1")], {"MINIO_ROOT_USER": None}, "must both be set"),
    }[case]
    result = run_cli(address + args, env)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_single_node_finds_itself_among_url_endpoints_without_override(tmp_path):
    """No MINIO_STANDIN_SELF: the node matches its --address port and a local address, as in a container.

    The password comes from a file (MINIO_ROOT_PASSWORD_FILE, as for Docker secrets).
    """
    port, console = free_ports(2)
    for i in range(1, 5):
        (tmp_path / f"d{i}").mkdir()
    (tmp_path / "password").write_text(PASSWORD + "\n")
    env = {**os.environ, "MINIO_ROOT_USER": USER, "MINIO_ROOT_PASSWORD_FILE": str(tmp_path / "password")}
    for name in ("MINIO_STANDIN_SELF", "MINIO_ROOT_PASSWORD"):
        env.pop(name, None)
    proc = subprocess.Popen([str(ENTRY), "server", "--address", f"127.0.0.1:{port}", "--console-address",
                             f"127.0.0.1:{console}", f"http://127.0.0.1:{port}{tmp_path}/d{{1...4}}"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "log", "wb"))
    try:
        wait_for(lambda: proc.poll() is not None or http_status(f"http://127.0.0.1:{port}/minio/health/live") == 200,
                 START_TIMEOUT, "the single node to serve")
        assert proc.poll() is None, (tmp_path / "log").read_text()
        assert http_status(f"http://127.0.0.1:{port}/minio/health/cluster") == 200
        assert len(list(tmp_path.glob("d*/.minio.sys/format.json"))) == 4
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id=USER, aws_secret_access_key=PASSWORD,
                          config=Config(retries={"total_max_attempts": 1}))
        s3.create_bucket(Bucket="single")
        s3.put_object(Bucket="single", Key="k", Body=b"v")
        assert s3.get_object(Bucket="single", Key="k")["Body"].read() == b"v"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
    assert proc.returncode == 0


def test_ellipsis_expansion_order_padding_and_set_sizes():
    assert endpoints.expand("http://minio{1...4}:9000/data{1...2}") == [
        "http://minio1:9000/data1", "http://minio2:9000/data1", "http://minio3:9000/data1", "http://minio4:9000/data1",
        "http://minio1:9000/data2", "http://minio2:9000/data2", "http://minio3:9000/data2", "http://minio4:9000/data2"]
    assert endpoints.expand("/d{01...03}") == ["/d01", "/d02", "/d03"]
    assert endpoints.expand("/d{a...c}") == ["/da", "/db", "/dc"]  # MinIO also reads hex ranges
    assert [len(s) for s in endpoints.pools_from_args(["http://minio{1...4}:9000/data{1...4}"])[0]] == [16]
    assert [len(s) for s in endpoints.pools_from_args(["/d{1...32}"])[0]] == [16, 16]
    assert [len(s) for s in endpoints.pools_from_args(["/a", "/b", "/c", "/d", "/e", "/f"])[0]] == [6]
    topo = endpoints.build_topology(["http://minio{1...4}:9000/data{1...2}"], ":9000", override="minio3:9000")
    assert topo.nodes == ["minio1:9000", "minio2:9000", "minio3:9000", "minio4:9000"]
    assert topo.local_drives == ["/data1", "/data2"] and topo.peers == ["minio1:9000", "minio2:9000", "minio4:9000"]
    for bad in (["/d{1..4}"], ["/d{4...1}"], ["/d{1...4}", "/e"], ["/d1", "/d1"], ["/d{1...1}"]):
        with pytest.raises(endpoints.EndpointError):
            endpoints.pools_from_args(bad)
