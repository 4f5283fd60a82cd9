"""How far the ClearML stack is from healthy, from `docker compose ps --all --format json` (the
`containers` that community.docker.docker_compose_v2 returns), for the wait in tasks/up.yml."""

from __future__ import annotations

# A container in these states is not started again by its restart policy (a crashing one with
# `restart: unless-stopped` shows as "restarting" instead): waiting longer cannot help. Compose's own
# --wait stops at an exited container too (isServiceHealthy in pkg/compose/convergence.go,
# docker/compose v2.26.1 and f72979427042620a94dd52ce78b39c68cb02c085).
_GONE = ("exited", "dead")


def _ready(container: dict) -> bool:
    # Compose's rule for --wait: healthy, or running when the service has no healthcheck (Health "").
    return container.get("State") == "running" and (container.get("Health") or "") in ("", "healthy")


def _state(container: dict) -> str:
    state = container.get("State") or "unknown"
    if state in _GONE:
        return f"{state} with code {container.get('ExitCode', '?')}"
    health = container.get("Health") or ""
    return f"{state}, {health}" if health else state


def clearml_server_stack_health(containers: list[dict] | None, services: list[str]) -> dict:
    """Verdict on `services` (the compose project's service names) given their containers.

    ready: every service has a container and each of its containers is ready.
    not_ready: "service (state)" for each service that is not, in the order of `services`.
    names: those services' names.
    hopeless: the not-ready services that have no container or one that exited.
    """
    by_service: dict[str, list[dict]] = {}
    for container in containers or []:
        by_service.setdefault(container.get("Service", ""), []).append(container)
    not_ready, names, hopeless = [], [], []
    for service in services:
        mine = by_service.get(service, [])
        sick = [c for c in mine if not _ready(c)]
        if mine and not sick:
            continue
        names.append(service)
        not_ready.append(f"{service} ({', '.join(_state(c) for c in sick) if mine else 'no container'})")
        if not mine or any(c.get("State") in _GONE for c in sick):
            hopeless.append(service)
    return {"ready": not names, "not_ready": not_ready, "names": names, "hopeless": hopeless}


class FilterModule:
    def filters(self):
        return {"clearml_server_stack_health": clearml_server_stack_health}
