"""Create the S3 buckets that do not exist yet (with "check": only report them).

Run by tasks/buckets.yml as `python3 -c`. Reads JSON on stdin (endpoint, access_key, secret_key,
buckets, check), so the keys are never on a command line or in an environment. Prints
{"created": [...]} as JSON.
"""
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

req = json.load(sys.stdin)
s3 = boto3.client(
    "s3",
    endpoint_url=req["endpoint"],
    aws_access_key_id=req["access_key"],
    aws_secret_access_key=req["secret_key"],
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
)
created = []
for name in req["buckets"]:
    try:
        s3.head_bucket(Bucket=name)
        continue
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    if not req["check"]:
        try:
            s3.create_bucket(Bucket=name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise
    created.append(name)
print(json.dumps({"created": created}))
