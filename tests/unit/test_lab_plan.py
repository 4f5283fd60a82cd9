"""`clearstack lab`: host plan, inventory, argument checks and file safety, without Docker."""

from __future__ import annotations

import argparse
import ipaddress
import stat

import pytest
import yaml

from clearstack import lab, lab_cli

SUBNET = ipaddress.ip_network("10.241.3.0/24")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="clearstack")
    lab_cli.add_parsers(top.add_subparsers(dest="verb", required=True))
    return top


def test_five_hosts_one_clearml_four_minio_with_fixed_addresses():
    hosts = lab.plan_hosts("demo", 5, SUBNET)
    assert [(h.name, h.address, h.groups) for h in hosts] == [
        ("demo-clearml", "10.241.3.10", ["clearml_server"]),
        ("demo-minio1", "10.241.3.11", ["minio"]),
        ("demo-minio2", "10.241.3.12", ["minio"]),
        ("demo-minio3", "10.241.3.13", ["minio"]),
        ("demo-minio4", "10.241.3.14", ["minio"]),
    ]


def test_one_host_is_all_in_one():
    [host] = lab.plan_hosts("demo", 1, SUBNET)
    assert (host.name, host.groups) == ("demo-clearml", ["clearml_server", "minio"])


@pytest.mark.parametrize("count", [0, 2, 3, 4, 6])
def test_other_sizes_are_refused_with_the_fix(count):
    with pytest.raises(lab.LabError, match="--hosts 5 or --hosts 1"):
        lab.validate_count(count)


@pytest.mark.parametrize("name", ["", "Lab", "1lab", "lab_x", "lab-", "a--b", "x" * 41, "lab.x"])
def test_unusable_names_are_refused(name):
    with pytest.raises(lab.LabError, match="lower-case letters"):
        lab.validate_name(name)


def test_inventory_reaches_hosts_over_ssh_as_root(tmp_path):
    hosts = lab.plan_hosts("demo", 5, SUBNET)
    key = tmp_path / "ssh" / "id_ed25519"
    text = lab.render_inventory("demo", tmp_path, hosts, key)
    data = yaml.safe_load(text)
    top = data["all"]
    assert top["vars"]["ansible_user"] == "root"
    assert top["vars"]["ansible_ssh_private_key_file"] == str(key)
    assert top["vars"]["ansible_python_interpreter"] == "/usr/bin/python3"
    assert "StrictHostKeyChecking=no" in top["vars"]["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/dev/null" in top["vars"]["ansible_ssh_common_args"]
    assert top["hosts"]["demo-minio2"] == {"ansible_host": "10.241.3.12"}
    assert list(top["children"]["clearml_server"]["hosts"]) == ["demo-clearml"]
    assert list(top["children"]["minio"]["hosts"]) == [f"demo-minio{k}" for k in range(1, 5)]
    (tmp_path / "hosts.yml").write_text(text)
    assert lab.written_by_lab(tmp_path / "hosts.yml", "demo")
    assert not lab.written_by_lab(tmp_path / "hosts.yml", "dem")  # another lab's name is not ours


def test_all_in_one_inventory_has_the_host_in_both_groups(tmp_path):
    data = yaml.safe_load(lab.render_inventory("aio", tmp_path, lab.plan_hosts("aio", 1, SUBNET), tmp_path / "k"))
    groups = data["all"]["children"]
    assert list(groups["clearml_server"]["hosts"]) == list(groups["minio"]["hosts"]) == ["aio-clearml"]


def test_free_subnet_skips_networks_in_use():
    used = [ipaddress.ip_network(n) for n in ("10.230.0.0/24", "10.241.0.0/24", "10.241.1.0/25", "10.241.0.0/23")]
    assert lab.free_subnet(used) == ipaddress.ip_network("10.241.2.0/24")
    with pytest.raises(lab.LabError, match="lab down"):
        lab.free_subnet([ipaddress.ip_network("10.0.0.0/8")])


def test_run_args_follow_the_recipe_and_label_the_lab():
    spec = lab.host_spec()
    host = lab.plan_hosts("demo", 5, SUBNET)[1]
    args = lab.run_args(spec, "demo", host, "demo-net")
    assert args[-1] == spec["image"]
    assert f"{spec['label']}=lab:demo" in args and "clearstack.lab=demo" in args
    assert args[args.index("--ip") + 1] == "10.241.3.11" and args[args.index("--network") + 1] == "demo-net"
    assert f"--stop-signal={spec['stop_signal']}" in args
    assert all(f"--tmpfs={fs}" in args for fs in spec["tmpfs"])


def test_the_lab_subnets_keep_clear_of_reserved_ranges():
    for reserved in ("10.230.0.0/15", "10.232.0.0/14", "10.236.0.0/16", "10.240.0.0/16"):
        assert not lab.SUBNET_POOL.overlaps(ipaddress.ip_network(reserved))


def test_cli_defaults_and_refusals(capsys):
    args = parser().parse_args(["lab", "up"])
    assert (args.hosts, args.name, args.dir, args.json) == (5, lab.DEFAULT_NAME, lab.DEFAULT_DIR, False)
    assert parser().parse_args(["lab", "up", "--hosts", "1", "--name", "t1"]).hosts == 1
    for bad in (["lab", "up", "--hosts", "3"], ["lab", "up", "--hosts", "five"], ["lab", "down", "--name", "Bad_Name"],
                ["lab"]):
        with pytest.raises(SystemExit) as exit_info:
            parser().parse_args(bad)
        assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--hosts 5 or --hosts 1" in err and "lower-case letters" in err


def test_up_refuses_to_overwrite_an_inventory_it_did_not_write(tmp_path):
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    with pytest.raises(lab.LabError, match="not written by `clearstack lab up --name demo`"):
        lab.up("demo", 1, tmp_path)
    assert (tmp_path / "hosts.yml").read_text() == "all: {}\n"


def test_down_removes_only_what_the_lab_and_up_made(tmp_path):
    key = tmp_path / "ssh" / "id_ed25519"
    key.parent.mkdir(mode=0o700)
    key.write_text("private")
    key.with_suffix(".pub").write_text("ssh-ed25519 AAAA clearstack-lab:demo\n")
    (tmp_path / "hosts.yml").write_text(lab.render_inventory("demo", tmp_path, lab.plan_hosts("demo", 1, SUBNET), key))
    (tmp_path / ".clearstack").mkdir()
    (tmp_path / ".clearstack" / "secrets.yml").write_text("x: y\n")
    (tmp_path / "clearml.conf").write_text("api {}\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    removed = lab._remove_files(tmp_path, "demo")
    assert len(removed) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert lab._remove_files(tmp_path, "demo") == []


def test_down_leaves_a_foreign_directory_alone(tmp_path):
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    (tmp_path / ".clearstack").mkdir()
    assert lab._remove_files(tmp_path, "demo") == []
    assert (tmp_path / ".clearstack").is_dir() and (tmp_path / "hosts.yml").exists()


def test_key_dir_and_key_are_private(tmp_path, monkeypatch):
    calls = []

    def fake_keygen(cmd, **_kw):
        calls.append(cmd)
        path = cmd[cmd.index("-f") + 1]
        with open(path, "w") as f:
            f.write("private")
        with open(path + ".pub", "w") as f:
            f.write("ssh-ed25519 AAAA clearstack-lab:demo\n")

        class Done:
            returncode, stderr = 0, ""
        return Done()

    monkeypatch.setattr(lab.subprocess, "run", fake_keygen)
    result = lab.LabResult("demo", str(tmp_path))
    key = lab.ensure_key(tmp_path, "demo", result, lambda _m: None)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert lab.ensure_key(tmp_path, "demo", result, lambda _m: None) == key
    assert len(calls) == 1 and len(result.actions) == 1  # the second call reuses the pair


@pytest.mark.parametrize("venv_on_path", [False, True])
def test_up_hints_call_the_venvs_commands_as_the_shell_finds_them(monkeypatch, tmp_path, venv_on_path):
    """scripts/up.sh leaves clearstack and ansible in .venv/bin, not on PATH: the hints name them by path
    unless PATH (an activated venv) finds those very files."""
    import sys
    from pathlib import Path

    venv_bin = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin:/bin" if venv_on_path else "/usr/bin:/bin")
    result = lab.LabResult(name="t1", directory=str(tmp_path), changed=False, inventory=str(tmp_path / "hosts.yml"),
                           hosts=[lab.LabHost("t1-clearml", "10.241.3.10", ["clearml_server", "minio"])])
    monkeypatch.setattr(lab, "up", lambda *a, **k: result)
    out, text = lab_cli._up(parser().parse_args(["lab", "up", "--name", "t1", "--dir", str(tmp_path)]))
    ansible = "ansible" if venv_on_path else str(venv_bin / "ansible")
    clearstack = "clearstack" if venv_on_path else str(venv_bin / "clearstack")
    assert f"try:  {ansible} -i {tmp_path / 'hosts.yml'} all -m ping" in text.splitlines()
    assert out["next"] == f"{clearstack} up -i {tmp_path}"
    assert f"done: {clearstack} lab down --name t1 --dir {tmp_path}" in text.splitlines()
    assert venv_on_path or (Path(ansible).is_file() and Path(clearstack).is_file())  # the hints run as printed
