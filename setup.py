"""The wheel carries clearstack's Ansible content as clearstack/_ansible/ (driver/clearstack/paths.py).

The content stays where Ansible users and the editable checkout expect it (roles/, playbooks/, ...
at the top level); the build copies it into the package in the build directory, so the checkout holds
one copy. An editable install copies nothing: it reads the checkout in place. Everything else is
configured in pyproject.toml; MANIFEST.in puts the same content into the sdist.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# What the driver reads at run time: the playbooks and roles (with ansible.cfg, which points at
# them), the lab recipe, the templates it renders, the seed of the default inventory, and the sample
# inventory whose commented group_vars `clearstack init` copies.
ANSIBLE_CONTENT = ("ansible.cfg", "requirements.yml", "playbooks", "roles", "lab", "templates", "inventory/local",
                   "inventory/sample")
CONTENT_DIR = "clearstack/_ansible"  # paths.CONTENT_DIR inside the package
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".clearstack", "clearml.conf", "*.retry")


class BuildPyWithAnsible(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib, CONTENT_DIR)
        shutil.rmtree(target, ignore_errors=True)
        for name in ANSIBLE_CONTENT:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=_IGNORE)
            elif source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
            else:
                raise FileNotFoundError(f"{source} is missing: the wheel would have no {name}")


setup(cmdclass={"build_py": BuildPyWithAnsible})
