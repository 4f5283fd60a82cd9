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


@pytest.mark.parametrize("password,why", [("short", "has 5 characters"), ("minioadmin", "well-known"),
                                          ("aaaabbbbaaaa", "only 2 different characters"), (12345678, "not a string")])
def test_weak_minio_passwords_are_named_with_the_reason(password, why):
    assert why in store.password_weakness(password)


def test_a_strong_password_passes_and_the_user_name_is_no_password():
    assert store.password_weakness("k7Qm-2vX9-pL4d") is None
    assert "same as minio_root_user" in store.password_weakness("clearstack-admin", user="clearstack-admin")


def test_a_generated_secret_set_in_the_inventory_is_refused_before_anything_is_stored(tmp_path):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars/all.yml").write_text(yaml.safe_dump({"minio_root_password": "minioadmin"}))
    with pytest.raises(store.SecretStoreError, match=r"minio_root_password is set in .*all\.yml and is too weak"):
        store.ensure(tmp_path)
    assert not store.store_path(tmp_path).exists()
    # A strong one is refused too (the stored value would override it), with where to put it instead.
    (tmp_path / "group_vars/all.yml").write_text(yaml.safe_dump({"minio_root_password": "k7Qm-2vX9-pL4d"}))
    with pytest.raises(store.SecretStoreError, match="would not be used.*put it in"):
        store.ensure(tmp_path)


def test_a_weak_password_edited_into_the_store_is_refused_and_kept(tmp_path):
    store.ensure(tmp_path)
    path = store.store_path(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["minio_root_password"] = "short"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(store.SecretStoreError, match="too weak"):
        store.ensure(tmp_path)
    assert yaml.safe_load(path.read_text()) == data  # nothing stored is lost
