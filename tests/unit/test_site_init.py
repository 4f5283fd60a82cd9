"""`clearstack init DIR`: the site inventory it writes, and what it refuses before writing anything."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest
import yaml

from clearstack import cli, site_init

ROOT = Path(__file__).resolve().parents[2]
MINIO = "minio1.example.internal=192.0.2.11,minio2.example.internal=192.0.2.12," \
        "minio3.example.internal=192.0.2.13,minio4.example.internal=192.0.2.14"


def init(capsys, *args: str) -> tuple[int, str, str]:
    """`clearstack init ARGS` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main(["init", *args])
    except SystemExit as exit_:  # argparse's refusals (a bad NAME=ADDRESS); the handler's errors return 1
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_five_hosts_make_the_groups_with_their_addresses_and_the_commented_settings(tmp_path, capsys):
    site = tmp_path / "site"
    code, out, _ = init(capsys, str(site), "--clearml", "clearml.example.internal=192.0.2.10", "--minio", MINIO,
                        "--user", "debian", "--json")
    assert code == 0
    assert json.loads(out)["hosts_file"] == str(site / "hosts.yml")
    top = yaml.safe_load((site / "hosts.yml").read_text())["all"]
    assert top["vars"] == {"ansible_user": "debian", "ansible_become": True}
    groups = top["children"]
    assert groups["clearml_server"]["hosts"] == {"clearml.example.internal": {"ansible_host": "192.0.2.10"}}
    assert groups["minio"]["hosts"] == {f"minio{i}.example.internal": {"ansible_host": f"192.0.2.1{i}"}
                                        for i in range(1, 5)}
    # The settings are the sample inventory's, every one commented out: a copy, not another home.
    compared = filecmp.dircmp(ROOT / "inventory/sample/group_vars/all", site / "group_vars/all")
    assert compared.left_list == compared.right_list and not compared.diff_files and compared.left_list


def test_all_in_one_puts_the_host_in_both_groups(tmp_path, capsys):
    code, _, _ = init(capsys, str(tmp_path / "one"), "--all-in-one", "box.example.internal=192.0.2.20")
    assert code == 0
    text = (tmp_path / "one/hosts.yml").read_text()
    groups = yaml.safe_load(text)["all"]["children"]
    assert list(groups["clearml_server"]["hosts"]) == list(groups["minio"]["hosts"]) == ["box.example.internal"]
    assert groups["clearml_server"]["hosts"]["box.example.internal"] == {"ansible_host": "192.0.2.20"}
    assert "# ansible_user: debian" in text  # no --user: shown, commented


@pytest.mark.parametrize("args,says", [
    (["--clearml", "c1", "--minio", "minio1,minio2,minio3"], "--minio names 3 distinct host(s)"),
    (["--clearml", "c1", "--minio", "minio1,minio2,minio2,minio3"], "--minio names 3 distinct host(s)"),
    (["--clearml", "minio1", "--minio", "minio1,minio2,minio3,minio4"], "minio1 is both --clearml and one of --minio"),
    (["--clearml", "c1", "--minio", "s3-a,s3-b,s3-c,s3-d"], "cannot be written as one MinIO host range"),
    (["--clearml", "c1"], "say which hosts"),
    (["--all-in-one", "a", "--clearml", "c1"], "--all-in-one HOST stands alone"),
    (["--clearml", "c1", "--minio", "minio1,minio2,minio3,min_io4"], "'min_io4' is not a host name"),
    (["--clearml", "c1=not an address", "--minio", "minio1,minio2,minio3,minio4"], "is not a host address"),
    (["--all-in-one", "a", "--user", "Bad User"], "--user 'Bad User' is not a user name"),
])
def test_what_cannot_be_a_deployment_is_refused_and_nothing_is_written(tmp_path, capsys, args, says):
    code, _, err = init(capsys, str(tmp_path / "site"), *args)
    assert code != 0
    assert says in err, err
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").iterdir())


def test_an_existing_inventory_is_never_overwritten(tmp_path, capsys):
    site = tmp_path / "site"
    site.mkdir()
    (site / "hosts.yml").write_text("# mine\n")
    code, _, err = init(capsys, str(site), "--all-in-one", "box")
    assert code == 1
    assert f"{site} already holds hosts.yml: init never overwrites an inventory" in err
    assert (site / "hosts.yml").read_text() == "# mine\n" and not (site / "group_vars").exists()
    assert sorted(p.name for p in site.iterdir()) == ["hosts.yml"]  # no staging directory left


def test_ip_addresses_that_count_up_are_a_valid_minio_range():
    clearml, minio = site_init.plan(site_init.Host("192.0.2.10"),
                                    [site_init.parse_host(f"192.0.2.1{i}", "--minio") for i in range(1, 5)], None)
    assert [h.name for h in minio] == ["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"]
