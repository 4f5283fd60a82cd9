"""The real MinIO node the dataset tests run (tests/minio_server.py): one process on loopback with four
erasure-coded drives and the given root credentials, started only once it has write quorum, retried on
a port taken meanwhile, and gone after stop(). Needs the binary of tests/images/build-minio.sh."""

from __future__ import annotations

import socket
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError

import minio_server

USER, PASSWORD = "clearstack-test", "minio-test-password-02"


@pytest.fixture(scope="module")
def binary():
    return minio_server.binary_or_fail()


def _client(node: minio_server.MinioNode, user: str, password: str):
    return boto3.client("s3", endpoint_url=f"http://{node.endpoint}", region_name="us-east-1",
                        aws_access_key_id=user, aws_secret_access_key=password)


def _listening(pid: int) -> list[str]:
    """Local addresses the process listens on (TCP), from ss."""
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, timeout=10).stdout
    return [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]


def test_node_is_the_release_erasure_coded_on_loopback_and_stops(binary, tmp_path):
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout
    assert minio_server.RELEASE in version, version
    node = minio_server.MinioNode(tmp_path, USER, PASSWORD).start()
    try:
        status, headers = minio_server.health(node.port)
        assert status == 200 and headers["X-Minio-Write-Quorum"] == "3", headers
        assert sorted((tmp_path / f"data{i}" / ".minio.sys").is_dir() for i in range(1, 5)) == [True] * 4
        # Loopback only (MinIO binds the S3 port on ::1 too; the console comes up a little later, also on 127.0.0.1).
        listening = _listening(node.process.pid)
        assert f"127.0.0.1:{node.port}" in listening, listening
        assert all(a.startswith(("127.0.0.1:", "[::1]:")) for a in listening), listening

        client = _client(node, USER, PASSWORD)
        client.create_bucket(Bucket="probe")
        client.put_object(Bucket="probe", Key="a.png", Body=b"PNG")
        assert client.get_object(Bucket="probe", Key="a.png")["Body"].read() == b"PNG"
        with pytest.raises(ClientError) as refused:
            _client(node, "minioadmin", "minioadmin").list_buckets()
        assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    finally:
        node.stop()
    assert node.process.poll() is not None and minio_server.health(node.port)[0] == 0


def test_a_port_taken_before_minio_binds_it_is_retried_with_others(binary, tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = [taken.getsockname()[1], minio_server.free_port()]
        real_free_port = minio_server.free_port
        monkeypatch.setattr(minio_server, "free_port", lambda: ports.pop(0) if ports else real_free_port())
        node = minio_server.MinioNode(tmp_path, USER, PASSWORD)
        try:
            node.start()
            assert node.port != taken.getsockname()[1]
            assert "port is already in use" in node.log_path.read_text()
            assert minio_server.health(node.port)[0] == 200
        finally:
            node.stop()
