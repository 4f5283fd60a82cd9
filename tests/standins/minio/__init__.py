"""A MinIO server stand-in: a test double for hosts where no MinIO binary or image can be had.

Run it like MinIO (``python -m tests.standins.minio server ...`` or the ``minio`` script next to this
file, which works from any copy of this directory):

    MINIO_ROOT_USER=admin MINIO_ROOT_PASSWORD=secret123 \\
        minio server --address :9000 --console-address :9001 http://minio{1...4}:9000/data{1...2}

Standard library only, so a container image needs nothing but python3. What it is:
  - S3 over path-style HTTP with real SigV4 checks against the root credentials (s3.py, sigv4.py);
  - MinIO's command line: ellipses, pools, erasure-set sizes, refusals (endpoints.py, cli.py);
  - N nodes behaving as one deployment: each node keeps a full replica on its drives, writes need
    MinIO's write quorum of acknowledging nodes, nodes that were down catch up (cluster.py, storage.py);
  - MinIO's health endpoints, and a placeholder page on the console port (httpd.py).
What it is not: erasure coding, bitrot checks, versioning, policies, IAM, TLS, the admin API.
Design choice: an own small server rather than moto, because moto checks no signatures, keeps
data in memory and has no notion of nodes, quorum or health; wrapping it would cost more than this.
"""
