import re
import stat
from pathlib import Path

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
    del data["clearml_server_web_password"]  # a secret added by a newer clearstack
    path.write_text(yaml.safe_dump(data))
    second = store.ensure(tmp_path)
    assert second["minio_root_password"] == "kept-by-the-operator"
    assert second["clearml_server_operator_secret_key"] == first["clearml_server_operator_secret_key"]
    assert second["clearml_server_web_password"] and second["clearml_server_web_password"] != first["clearml_server_web_password"]


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


ROOT = Path(__file__).resolve().parents[2]
# The store's names before each secret was named after the role variable that uses it -> today's.
OLD_TO_NEW = {"minio_root_user": "minio_root_user", "minio_root_password": "minio_root_password",
              "clearml_operator_access_key": "clearml_server_operator_access_key",
              "clearml_operator_secret_key": "clearml_server_operator_secret_key",
              "clearml_agent_access_key": "clearml_server_agent_access_key",
              "clearml_agent_secret_key": "clearml_server_agent_secret_key",
              "clearml_web_admin_password": "clearml_server_web_password",
              "clearml_server_secret": "clearml_server_internal_secret"}
RENAMED = {old: new for old, new in OLD_TO_NEW.items() if old != new}


def _old_store(tmp_path):
    """A store in the old names, written 0600 as the old clearstack did, with a distinct value per name."""
    path = store.store_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    old = {name: f"{name}-value-{i}-Xq7" for i, name in enumerate(OLD_TO_NEW)}
    path.write_text(yaml.safe_dump(old))
    path.chmod(0o600)
    return path, old


def _declared_role_variables():
    names = set()
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in (yaml.safe_load(spec.read_text())["argument_specs"] or {}).values():
            names |= set((entry or {}).get("options") or {})
    return names


def test_a_fresh_store_uses_only_the_role_variables_names(tmp_path):
    """One name per secret: each key of the store is a variable some role declares, none an old name."""
    values = store.ensure(tmp_path)
    stored = yaml.safe_load(store.store_path(tmp_path).read_text())
    assert set(stored) == set(values) == set(store.GENERATED)
    assert not set(stored) & set(RENAMED)
    assert set(stored) <= _declared_role_variables(), set(stored) - _declared_role_variables()


def test_no_playbook_renames_the_store(tmp_path):
    """The store reaches the roles as it is: no vars file or play maps an old name onto a role variable."""
    assert not (ROOT / "playbooks/vars/clearml_server_credentials.yml").exists()
    for path in [*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/*/defaults/*.yml"),
                 *ROOT.glob("roles/*/meta/argument_specs.yml")]:
        text = path.read_text()
        assert not [old for old in RENAMED if re.search(rf"\b{old}\b", text)], path


def test_an_old_store_is_renamed_in_place_keeping_every_value(tmp_path, capsys):
    path, old = _old_store(tmp_path)
    loaded = store.load(path)
    expected = {OLD_TO_NEW[name]: value for name, value in old.items()}
    assert loaded == expected
    assert yaml.safe_load(path.read_text()) == expected  # on disk, not only in memory
    assert _mode(path) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left beside it
    # Said once, names only: the next load finds nothing to rename, and nothing regenerates.
    said = capsys.readouterr()
    assert "clearml_web_admin_password -> clearml_server_web_password" in said.err
    assert not [value for value in old.values() if value in said.out + said.err]
    assert store.ensure(tmp_path) == expected
    assert capsys.readouterr().err == ""


def test_a_store_with_an_old_and_a_new_name_that_differ_is_refused_untouched(tmp_path, capsys):
    path, old = _old_store(tmp_path)
    text = yaml.safe_dump({**old, "clearml_server_web_password": "another-value-Zp9"})
    path.write_text(text)
    before = path.stat()
    with pytest.raises(store.SecretStoreError,
                       match="clearml_web_admin_password and clearml_server_web_password with different values"
                       ) as refused:
        store.ensure(tmp_path)
    assert path.read_text() == text and path.stat().st_mtime_ns == before.st_mtime_ns
    assert "another-value" not in str(refused.value) and old["clearml_web_admin_password"] not in str(refused.value)
    assert capsys.readouterr().err == ""


def test_an_old_and_a_new_name_with_the_same_value_become_one(tmp_path):
    path, old = _old_store(tmp_path)
    path.write_text(yaml.safe_dump({**old, "clearml_server_internal_secret": old["clearml_server_secret"]}))
    assert store.load(path)["clearml_server_internal_secret"] == old["clearml_server_secret"]
    assert "clearml_server_secret" not in yaml.safe_load(path.read_text())


def test_the_minio_password_rule_has_one_home_the_minio_roles_vars():
    rules = yaml.safe_load((ROOT / "roles/minio/vars/main.yml").read_text())
    assert store.MINIO_MIN_PASSWORD == rules["minio__root_password_min_length"]
    assert store.password_weakness("x" * (rules["minio__root_password_min_length"] - 1)).startswith("has ")
    validate = (ROOT / "roles/minio/tasks/validate.yml").read_text()
    assert "length >= minio__root_password_min_length" in validate and "length >= minio__root_user_min_length" in validate
    assert not re.search(r"length >= \d", validate)  # no number of its own
