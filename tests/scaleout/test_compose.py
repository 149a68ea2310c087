"""docker-compose.yml is what an operator runs; Docker cannot run here, so every reference in it is checked."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from app.cli import build_parser
from app.settings import Settings
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
NGINX = REPO / "deploy" / "nginx.conf"
DOCKERFILE = REPO / "deploy" / "Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def backchannel_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == "backchannel:local"}


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    # The Compose specification's schema as the check-jsonschema package vendors it.
    schema_text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    schema = json.loads(schema_text)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_it_runs_the_whole_scale_out_topology(compose: dict[str, Any]) -> None:
    services = backchannel_services(compose)
    commands = sorted(tuple(s["command"][:2]) for s in services.values())
    # As the native test runs it: two replicas, one ingest worker, two clustering workers (one owns, one stands by).
    assert commands == [
        *[("cluster", "--metrics-port")] * 2,
        ("ingest", "--metrics-port"),
        *[("serve", "--no-workers")] * 2,
    ]
    assert {"postgres", "redis", "proxy"} <= set(compose["services"])


def test_every_command_is_a_real_backchannel_command(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name, service in backchannel_services(compose).items():
        args = parser.parse_args(service["command"])  # exits on an unknown command or option
        assert callable(args.func), name


def test_every_backchannel_variable_is_a_setting(compose: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name, service in backchannel_services(compose).items():
        env = service["environment"]
        assert "BACKCHANNEL_DATABASE_URL" in env and "BACKCHANNEL_BROKER_URL" in env, name
        for key in env:
            if key.startswith("BACKCHANNEL_"):
                assert key.removeprefix("BACKCHANNEL_").lower() in fields, f"{name}: {key} is not a Settings field"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            **{
                k.removeprefix("BACKCHANNEL_").lower(): v
                for k, v in env.items()
                if k.startswith("BACKCHANNEL_") and "${" not in str(v)
            },
        )
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.broker_url.startswith("redis://")


def test_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert condition["condition"] == "service_healthy", name
            assert "healthcheck" in services[target], f"{name} waits for {target}, which has no health check"


def test_api_replicas_report_readiness_and_volumes_are_declared(compose: dict[str, Any]) -> None:
    for name, service in backchannel_services(compose).items():
        if service["command"][0] == "serve":
            assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_the_proxy_upgrades_websockets_and_balances_every_replica(compose: dict[str, Any]) -> None:
    config = NGINX.read_text()
    ws = re.search(r"location /ws/ \{(.*?)\n    \}", config, re.S)
    assert ws is not None, "no location for /ws/"
    block = ws.group(1)
    assert "proxy_http_version 1.1;" in block
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    assert "proxy_set_header Connection $connection_upgrade;" in block
    assert re.search(r"proxy_read_timeout\s+(\d+)h;", block), "followers must outlive nginx's 60 s read timeout"
    upstream = set(re.findall(r"server (\w+):(\d+)", config))
    replicas = {
        (name, service["command"][service["command"].index("--port") + 1])
        for name, service in backchannel_services(compose).items()
        if service["command"][0] == "serve"
    }
    assert upstream == replicas


def test_the_image_copies_what_exists_and_runs_the_cli() -> None:
    text = DOCKERFILE.read_text()
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in source.split():
            assert (REPO / path).exists(), f"Dockerfile copies missing {path}"
    assert 'ENTRYPOINT ["backchannel"]' in text
