"""clearml_server_stack_health (roles/clearml_server/filter_plugins/compose_wait.py): the verdict the
wait of the clearml_server role's `up` takes after each look at `docker compose ps --all --format json`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "compose_wait", ROOT / "roles/clearml_server/filter_plugins/compose_wait.py")
compose_wait = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compose_wait)
health = compose_wait.clearml_server_stack_health

SERVICES = ["elasticsearch", "apiserver", "plain"]


def _c(service, state="running", health="healthy", code=0):
    return {"Service": service, "Name": f"x-{service}", "State": state, "Health": health, "ExitCode": code}


def test_healthy_and_running_without_a_healthcheck_is_ready():
    verdict = health([_c("elasticsearch"), _c("apiserver"), _c("plain", health="")], SERVICES)
    assert verdict == {"ready": True, "not_ready": [], "names": [], "hopeless": []}


def test_unhealthy_starting_and_created_are_waited_for_not_given_up():
    verdict = health([_c("elasticsearch", health="unhealthy"), _c("apiserver", "created", ""),
                      _c("plain", "restarting", "")], SERVICES)
    assert verdict["ready"] is False and verdict["hopeless"] == []
    assert verdict["not_ready"] == ["elasticsearch (running, unhealthy)", "apiserver (created)", "plain (restarting)"]
    assert verdict["names"] == SERVICES
    assert health([_c("elasticsearch", health="starting"), _c("apiserver"), _c("plain", health="")],
                  SERVICES)["not_ready"] == ["elasticsearch (running, starting)"]


def test_an_exited_container_or_a_missing_one_is_hopeless():
    verdict = health([_c("elasticsearch", "exited", "", 137), _c("apiserver")], SERVICES)
    assert verdict["ready"] is False
    assert verdict["not_ready"] == ["elasticsearch (exited with code 137)", "plain (no container)"]
    assert verdict["hopeless"] == ["elasticsearch", "plain"]


def test_every_replica_counts_and_other_projects_services_are_ignored():
    verdict = health([_c("elasticsearch"), _c("elasticsearch", health="unhealthy"), _c("apiserver"),
                      _c("plain", health=""), _c("someone-else", "exited")], SERVICES)
    assert verdict["not_ready"] == ["elasticsearch (running, unhealthy)"] and verdict["hopeless"] == []


def test_no_answer_from_compose_means_no_container_anywhere():
    assert health(None, SERVICES)["hopeless"] == SERVICES
    assert health([], [])["ready"] is True


def test_the_filter_is_registered():
    assert compose_wait.FilterModule().filters() == {"clearml_server_stack_health": health}
