"""Where the driver finds its Ansible content and where its default inventories live (driver/clearstack/paths.py),
in the two layouts: an editable checkout and a wheel that carries clearstack/_ansible/."""

from pathlib import Path

from clearstack import lab, paths

ROOT = Path(__file__).resolve().parents[2]


def _installed_package(tmp_path: Path) -> Path:
    """A stand-in for site-packages/clearstack of a wheel: _ansible/ with the seed inventory."""
    package = tmp_path / "site-packages" / "clearstack"
    seed = package / "_ansible" / "inventory" / "local"
    (seed / "group_vars" / "all").mkdir(parents=True)
    (seed / "hosts.yml").write_text("all: {}\n")
    (seed / "group_vars" / "all" / "connection.yml").write_text("ansible_connection: local\n")
    (package / "_ansible" / "playbooks").mkdir()
    return package


def test_the_editable_checkout_reads_its_own_top_level_content():
    assert not paths.LAYOUT.installed
    assert paths.CONTENT_ROOT == ROOT
    assert (paths.PLAYBOOKS / "site.yml").is_file()
    assert paths.ANSIBLE_CFG == ROOT / "ansible.cfg"
    assert (paths.LAB_RECIPE / "host.yml").is_file()
    assert paths.DEFAULT_INVENTORY == ROOT / "inventory" / "local"
    assert lab.DEFAULT_DIR == ROOT / "inventory" / "lab"
    # In a checkout the default inventory is the checkout's: nothing is copied anywhere.
    assert paths.ensure_default_inventory() == ROOT / "inventory" / "local"


def test_an_installed_package_reads_its_content_and_keeps_its_inventories_in_the_state_dir(tmp_path):
    package = _installed_package(tmp_path)
    layout = paths.find_layout(package, env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert layout.installed
    assert layout.content == package / "_ansible"
    assert layout.default_inventory == tmp_path / "state" / "clearstack" / "inventory" / "local"
    assert layout.default_lab_dir == tmp_path / "state" / "clearstack" / "inventory" / "lab"
    assert package not in layout.default_inventory.parents and package not in layout.default_lab_dir.parents


def test_the_state_dir_follows_xdg_and_ignores_a_relative_xdg_state_home(tmp_path):
    home = tmp_path / "home"
    assert paths.state_dir({}, home) == home / ".local" / "state" / "clearstack"
    assert paths.state_dir({"XDG_STATE_HOME": "relative/dir"}, home) == home / ".local" / "state" / "clearstack"
    assert paths.state_dir({"XDG_STATE_HOME": str(tmp_path / "xdg")}, home) == tmp_path / "xdg" / "clearstack"


def test_the_installed_default_inventory_is_copied_once_and_never_replaced(tmp_path):
    package = _installed_package(tmp_path)
    layout = paths.find_layout(package, env={"XDG_STATE_HOME": str(tmp_path / "state")})
    before = sorted(p.relative_to(package) for p in package.rglob("*"))

    inventory = paths.ensure_default_inventory(layout)
    assert inventory == layout.default_inventory
    assert (inventory / "hosts.yml").read_text() == "all: {}\n"
    assert (inventory / "group_vars" / "all" / "connection.yml").is_file()
    (inventory / "hosts.yml").write_text("all: {hosts: {edited: {}}}\n")  # the user's edit

    assert paths.ensure_default_inventory(layout) == inventory
    assert (inventory / "hosts.yml").read_text() == "all: {hosts: {edited: {}}}\n"
    assert sorted(p.relative_to(package) for p in package.rglob("*")) == before  # the package is untouched
    assert [p.name for p in inventory.parent.iterdir()] == ["local"]  # no staging dir left behind
