"""Find the one-line apt sources of Docker's repository that the role's deb822 docker.sources replaces.

apt refuses every sources list in which the same repository is given twice with different Signed-By
("Conflicting values set for option Signed-By"), and only warns when the key is the same. Docker's
install page used to write /etc/apt/sources.list.d/docker.list; ansible's apt_repository names the
file download_docker_com_linux_<distribution>.list; add-apt-repository and hand edits use other
names or /etc/apt/sources.list itself. So the files are matched by what their lines say, not by name.
"""

import base64
import posixpath
import re

SOURCES_LIST = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"

# One-line format (sources.list(5)): type, optional [options], URI, suite, components.
_ENTRY = re.compile(r"^\s*(?:deb|deb-src)\s+(?:\[[^\]]*\]\s*)?(?P<uri>\S+)\s")


def _active(line):
    return line.split("#", 1)[0].strip()


def is_repo_entry(line, repo_uri):
    """Whether an apt sources.list line (not a comment) names repo_uri, whatever its suite and options."""
    match = _ENTRY.match(_active(line) + " ")
    return bool(match) and match.group("uri").rstrip("/") == repo_uri.rstrip("/")


def is_sources_list(path):
    """Whether apt reads path as a one-line sources file (other *.list files elsewhere are not sources)."""
    return path == SOURCES_LIST or (posixpath.dirname(path) == SOURCES_DIR and path.endswith(".list"))


def legacy_sources(files, repo_uri):
    """Plan the removal of repo_uri's one-line entries.

    files: {path: text}. Returns {"remove": [path], "strip": [{"path", "line"}]}: a file whose every
    active line is an entry of the repository is removed; from any other file (and always from
    /etc/apt/sources.list) only those lines are taken out, so other sources stay as they are.
    """
    plan = {"remove": [], "strip": []}
    for path in sorted(files):
        if not is_sources_list(path):
            continue
        lines = files[path].splitlines()
        entries = [line for line in lines if is_repo_entry(line, repo_uri)]
        if not entries:
            continue
        others = [line for line in lines if _active(line) and line not in entries]
        if others or path == SOURCES_LIST:
            plan["strip"].extend({"path": path, "line": line} for line in dict.fromkeys(entries))
        else:
            plan["remove"].append(path)
    return plan


def docker_legacy_sources(slurp_results, repo_uri):
    """legacy_sources over the results of a looped ansible.builtin.slurp (base64 content, source path)."""
    files = {
        result["source"]: base64.b64decode(result["content"]).decode("utf-8", "replace")
        for result in slurp_results
        if "content" in result
    }
    return legacy_sources(files, repo_uri)


class FilterModule:
    def filters(self):
        return {"docker_legacy_sources": docker_legacy_sources}
