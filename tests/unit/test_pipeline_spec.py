import zlib
from pathlib import Path

import pytest

from clearstack.datasets.demo import png
from clearstack.datasets.spec import DEFAULT_SPEC, IngestStep, SpecError, SubsetStep, load_spec


def test_the_default_spec_is_the_runbook_example():
    ingest, sub = load_spec(DEFAULT_SPEC, s3_endpoint="clearml.lan:9000")
    assert isinstance(ingest, IngestStep) and isinstance(sub, SubsetStep)
    assert (ingest.source, ingest.project, ingest.name, ingest.wildcards, ingest.dataset_path) == (
        "s3://clearml.lan:9000/clearml/", "meu_projeto", "meu_dataset", ["*.png"], "/imagens")
    assert (sub.name, sub.parent_project, sub.parent_name, sub.selection.max_count) == (
        "meu_dataset_subconjunto", "meu_projeto", "meu_dataset", 2)


@pytest.mark.parametrize("text,message", [
    ("ingest: [{source: 's3://h/b/', project: p, name: n}]", r"ingest\[0\].source: .* has no port"),
    ("ingest: [{source: 's3://h:9000/b/', project: p}]", r"ingest\[0\]: missing field\(s\) name"),
    ("ingest: [{source: 's3://h:9000/bkt/', project: p, name: n, wildcard: '*.png'}]", r"unknown field\(s\) wildcard"),
    ("ingest: [{source: 's3://h:9000/bkt/', project: p, name: n, wildcards: '*.png'}]", "expected a list of patterns"),
    ("subsets: [{name: s, parent: {project: p}, select: {max_count: 2}}]", r"parent: missing field\(s\) name"),
    ("subsets: [{name: s, parent: {project: p, name: n}, select: {sample: 2}}]", "needs a seed"),
    ("subsets: [{name: s, parent: {project: p, name: n}, select: {from_file: nope.txt}}]", "nope.txt does not exist"),
    ("{}", "no ingest or subsets steps"),
    ("ingest: [", "cannot read pipeline spec"),
])
def test_bad_specs_are_refused_naming_the_step_and_field(tmp_path: Path, text, message):
    spec = tmp_path / "spec.yml"
    spec.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(spec)


def test_demo_png_is_a_well_formed_png():
    data = png(4, 3, (10, 20, 30))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, {}
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = body
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    assert zlib.decompress(chunks[b"IDAT"]) == (b"\x00" + bytes((10, 20, 30)) * 4) * 3
