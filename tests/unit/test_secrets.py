import stat

import pytest
import yaml

from clearstack import secrets as store


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_first_run_generates_every_secret_in_a_private_file(tmp_path):
    inventory = tmp_path / "site"
    inventory.mkdir()
    values = store.ensure(inventory)
    path = store.store_path(inventory)
    assert set(values) == set(store.GENERATED)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert len(values["minio_root_password"]) >= 8
    assert yaml.safe_load(path.read_text()) == values


def test_later_runs_reuse_and_never_replace_what_is_stored(tmp_path):
    first = store.ensure(tmp_path)
    path = store.store_path(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["minio_root_password"] = "kept-by-the-operator"
    del data["clearml_web_admin_password"]  # a secret added by a newer clearstack
    path.write_text(yaml.safe_dump(data))
    second = store.ensure(tmp_path)
    assert second["minio_root_password"] == "kept-by-the-operator"
    assert second["clearml_operator_secret_key"] == first["clearml_operator_secret_key"]
    assert second["clearml_web_admin_password"] and second["clearml_web_admin_password"] != first["clearml_web_admin_password"]


def test_an_inventory_file_keeps_its_store_beside_it(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    store.ensure(inventory)
    assert store.store_path(inventory) == tmp_path / ".clearstack" / "secrets.yml"


def test_a_store_readable_by_others_is_refused(tmp_path):
    store.ensure(tmp_path)
    store.store_path(tmp_path).chmod(0o644)
    with pytest.raises(store.SecretStoreError, match="chmod 600"):
        store.ensure(tmp_path)


def test_generated_values_differ_between_stores(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = store.ensure(tmp_path / "a")
    b = store.ensure(tmp_path / "b")
    assert all(a[name] != b[name] for name in store.GENERATED)
