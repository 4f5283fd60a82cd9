import pytest

from clearstack.datasets.source import SourceError, parse_s3_url, sdk_output_uri


def test_full_url():
    src = parse_s3_url("s3://clearml.example:9000/clearml/raw/images")
    assert (src.host, src.port, src.bucket, src.prefix) == ("clearml.example", 9000, "clearml", "raw/images/")
    assert src.endpoint == "clearml.example:9000"
    assert src.url == "s3://clearml.example:9000/clearml/raw/images/"
    assert src.object_url("raw/images/a.png") == "s3://clearml.example:9000/clearml/raw/images/a.png"


def test_bucket_root():
    assert parse_s3_url("s3://127.0.0.1:9000/clearml").prefix == ""
    assert parse_s3_url("s3://127.0.0.1:9000/clearml/").prefix == ""


@pytest.mark.parametrize("url,hint", [
    ("s3://minio/clearml/x", "has no port"),
    ("http://minio:9000/clearml", "not an s3 URL"),
    ("s3://minio:9000", "not an s3 URL"),
    ("s3://minio:99999/clearml", "out of range"),
    ("s3://minio:9000/Bad_Bucket", "not a valid bucket name"),
])
def test_bad_urls_are_refused_with_the_fix(url, hint):
    with pytest.raises(SourceError, match=hint):
        parse_s3_url(url)


@pytest.mark.parametrize("given,sdk_gets", [
    ("s3://127.0.0.1:9000/clearml/raw/clearml-outputs/", "s3://127.0.0.1:9000/clearml/raw/clearml-outputs"),
    ("s3://127.0.0.1:9000/clearml-outputs//", "s3://127.0.0.1:9000/clearml-outputs"),
    ("s3://127.0.0.1:9000/clearml-outputs/clearml", "s3://127.0.0.1:9000/clearml-outputs/clearml"),
    (None, None),
    ("", ""),
])
def test_output_uri_reaches_the_sdk_without_trailing_slashes(given, sdk_gets):
    # The SDK appends "/<name>": a trailing slash gives keys like "out//x", which MinIO refuses.
    assert sdk_output_uri(given) == sdk_gets
