"""Static checks of the Dockerfile and the LocalStack compose file (no Docker engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser

from tests.infra.conftest import ROOT

COMPOSE = ROOT / "localstack" / "docker-compose.yml"


def parsed() -> list[dict[str, Any]]:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser.structure


def stages() -> dict[str, list[dict[str, Any]]]:
    """Instructions of each named stage."""
    out: dict[str, list[dict[str, Any]]] = {}
    current = None
    for instruction in parsed():
        if instruction["instruction"] == "FROM":
            match = re.search(r"\bAS\s+(\S+)", instruction["value"], re.IGNORECASE)
            assert match, f"every stage is named: {instruction['content']}"
            current = match.group(1)
            out[current] = []
        elif current is not None:
            out[current].append(instruction)
    return out


def values(stage: str, instruction: str) -> list[str]:
    return [i["value"] for i in stages()[stage] if i["instruction"] == instruction]


def test_the_dockerfile_parses_into_its_stages() -> None:
    assert list(stages()) == ["dashboard", "build", "runtime", "server", "lambda",
                              "build-spark", "server-spark", "build-ml", "server-ml",
                              "lambda-ml"]
    froms = [i["value"] for i in parsed() if i["instruction"] == "FROM"]
    assert froms[3].startswith("runtime ") and froms[4].startswith("runtime ")
    args = [i["value"] for i in parsed() if i["instruction"] == "ARG"]
    assert any(a.startswith("PYTHON_IMAGE=python:3.13-slim") for a in args)
    # Vite 8 runs on Node.js 20.19+ or 22.12+; the build stage takes the built dashboard.
    assert any(a.startswith("NODE_IMAGE=node:22-") for a in args)
    assert "--from=dashboard /src/functions/admin/chalicelib/ui functions/admin/chalicelib/ui" \
        in values("build", "COPY")


def test_every_copy_source_exists_and_passes_dockerignore() -> None:
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    copies = [i["value"].split() for i in parsed() if i["instruction"] == "COPY"]
    checked = 0
    for parts in copies:
        if any(p.startswith("--from=") for p in parts):
            continue
        for source in parts[:-1]:
            assert (ROOT / source).exists(), source
            assert any(source.rstrip("/") == a or source.startswith(a + "/") for a in allowed), \
                f"{source} is excluded by .dockerignore"
            checked += 1
    assert checked >= 5


def test_the_final_stages_are_non_root_without_compilers() -> None:
    assert values("runtime", "USER") == ["10001:10001"]
    for stage in ("runtime", "server", "lambda"):
        for run in values(stage, "RUN"):
            assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", run), run
    assert any("--from=build /opt/lomas" in c for c in values("runtime", "COPY"))
    assert values("server", "CMD") == ['["lomas-serve"]']
    assert values("server", "HEALTHCHECK")
    assert values("lambda", "ENTRYPOINT") == ['["/opt/lomas/bin/python", "-m", "awslambdaric"]']


def test_only_the_spark_target_carries_pyspark_and_a_jvm() -> None:
    assert not any("spark" in run or "jre" in run for stage in ("build", "server", "lambda")
                   for run in values(stage, "RUN"))
    assert any("'.[spark]'" in run for run in values("build-spark", "RUN"))
    assert any("openjdk-17-jre-headless" in run for run in values("server-spark", "RUN"))
    assert values("server-spark", "USER") == ["root", "10001:10001"]
    assert values("server-spark", "CMD") == ['["lomas-serve"]']


def test_only_the_ml_targets_carry_the_ml_engines_and_never_torch() -> None:
    assert not any("ml" in run for stage in ("build", "server", "lambda", "build-spark")
                   for run in values(stage, "RUN"))
    install = " ".join(values("build-ml", "RUN"))
    assert "'.[ml]'" in install and "--no-deps" in install and "ml-nodeps.txt" in install
    assert "torch" not in (ROOT / "requirements" / "constraints.txt").read_text()
    assert "torch" not in (ROOT / "requirements" / "ml-nodeps.txt").read_text().split(
        "smartnoise-synth")[1]
    for stage in ("server-ml", "lambda-ml"):
        assert any("--from=build-ml /opt/lomas" in c for c in values(stage, "COPY"))
        assert not values(stage, "RUN")
    assert values("lambda-ml", "CMD") == values("lambda", "CMD")


def test_the_targets_sam_and_compose_name_exist() -> None:
    template = (ROOT / "infra" / "sam" / "template.yaml").read_text()
    sam_target = re.search(r"DockerBuildTarget:\s*(\S+)", template)
    command = re.search(r"Command:\s*\[([^\]]+)\]", template)
    assert sam_target and command
    assert sam_target.group(1) in stages()
    assert values(sam_target.group(1), "CMD") == [f'["{command.group(1).strip()}"]']
    module = command.group(1).strip().rsplit(".", 1)[0]
    assert (ROOT / (module.replace(".", "/") + ".py")).exists()
    compose = yaml.safe_load(COMPOSE.read_text())
    build = compose["services"]["lomas"]["build"]
    assert build["target"] in stages()
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == \
        ROOT / "Dockerfile"


def test_the_compose_file_wires_the_kit() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"localstack", "mongodb", "lomas", "init"}
    for service in services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), source
            else:
                assert source in compose["volumes"], source
    init = services["init"]
    script = Path(init["command"][-1])
    host_dir = next(m.split(":")[0] for m in init["volumes"] if m.split(":")[1] == "/kit/init")
    assert (COMPOSE.parent / host_dir / script.name).exists()
    assert init["image"] == services["lomas"]["image"]
    assert init["environment"]["LOMAS_AWS_SECRETS_PREFIX"] == \
        services["lomas"]["environment"]["LOMAS_AWS_SECRETS_PREFIX"]
    assert services["lomas"]["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
