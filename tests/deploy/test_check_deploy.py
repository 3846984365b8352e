"""scripts/check_deploy turns red when a manifest breaks, and stays green on the real ones.

Each test copies deploy/ and the services' manifests into a temporary tree, breaks one
thing, and asserts the checker names it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import deploy_checks

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_deploy"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the checker reads: deploy/, the Dockerfile and each service's pyproject."""
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    for service_dir in sorted((ROOT / "services").iterdir()):
        if (service_dir / "pyproject.toml").is_file():
            (tmp_path / "services" / service_dir.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(service_dir / "pyproject.toml", tmp_path / "services" / service_dir.name)
    return tmp_path


def problems(root: Path) -> list[str]:
    return list(deploy_checks.check(root).problems)


def edit_yaml(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Load every document of a YAML file, change them, write them back."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def first_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = docs[0]["spec"]["template"]["spec"]["containers"][0]
    return container


def assert_reported(found: list[str], *needles: str) -> None:
    assert any(all(n in p for n in needles) for p in found), (
        f"no problem mentions {needles}; got:\n" + "\n".join(found)
    )


def test_the_repository_deployment_passes_every_check(tree: Path) -> None:
    report = deploy_checks.check(tree)

    assert report.problems == []
    assert report.checked_resources >= 30
    assert report.checked_vars >= 40


def test_an_unknown_field_in_a_deployment_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/intake/deployment.yaml",
        lambda docs: first_container(docs).update(readinesProbe={"httpGet": {"path": "/"}}),
    )

    assert_reported(problems(tree), "Deployment/jiesu-intake", "readinesProbe", "schema")


def test_a_missing_readiness_probe_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/dispatch/deployment.yaml",
        lambda docs: first_container(docs).pop("readinessProbe"),
    )

    assert_reported(problems(tree), "Deployment/jiesu-dispatch", "readinessProbe is missing")


def test_an_env_var_naming_no_setting_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/intake/configmap.yaml",
        lambda docs: docs[0]["data"].update(JIESU_INTAKE_DATABASE__URLX="postgresql://x/y"),
    )

    assert_reported(problems(tree), "JIESU_INTAKE_DATABASE__URLX", "IntakeSettings has no such")


def test_a_renamed_setting_in_compose_is_reported(tree: Path) -> None:
    path = tree / "deploy/docker-compose.yml"
    path.write_text(
        path.read_text().replace(
            "JIESU_DISPATCH_KAFKA__CREATE_TOPICS", "JIESU_DISPATCH_KAFKA__CREATE_TOPIC"
        )
    )

    assert_reported(problems(tree), "services.dispatch", "JIESU_DISPATCH_KAFKA__CREATE_TOPIC:")


def test_a_value_the_setting_rejects_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/dispatch/configmap.yaml",
        lambda docs: docs[0]["data"].update(JIESU_DISPATCH_KAFKA__PARTITIONS="twelve"),
    )

    assert_reported(problems(tree), "JIESU_DISPATCH_KAFKA__PARTITIONS='twelve'")


def test_a_setting_of_another_service_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/dispatch/configmap.yaml",
        lambda docs: docs[0]["data"].update(JIESU_INTAKE_LOG_LEVEL="DEBUG"),
    )

    assert_reported(problems(tree), "JIESU_INTAKE_LOG_LEVEL", "not a setting of service 'dispatch'")


def test_an_unknown_field_in_a_custom_resource_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/platform/topics.yaml",
        lambda docs: docs[0]["spec"].update(partition=12),
    )

    assert_reported(problems(tree), "KafkaTopic/jiesu.intake.v1", "CRD schema", "'partition'")


def test_an_unknown_field_in_compose_is_reported(tree: Path) -> None:
    path = tree / "deploy/docker-compose.yml"
    path.write_text(path.read_text().replace("  prometheus:\n", "  prometheus:\n    replica: 2\n"))

    assert_reported(problems(tree), "compose spec", "services.prometheus", "'replica'")


def test_topics_must_have_the_partitions_the_settings_name(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/intake/configmap.yaml",
        lambda docs: docs[0]["data"].update(JIESU_INTAKE_KAFKA__PARTITIONS="24"),
    )
    path = tree / "deploy/docker-compose.yml"
    path.write_text(path.read_text().replace('PARTITIONS: "6"', 'PARTITIONS: "3"'))

    found = problems(tree)

    assert_reported(found, "KafkaTopic/jiesu.dispatch.v1", "partitions 12", "is 24")
    assert_reported(found, "kafka-topics PARTITIONS=3", "kafka.partitions is 6")


def test_a_missing_dead_letter_topic_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/platform/topics.yaml",
        lambda docs: docs.remove(
            next(d for d in docs if d["metadata"]["name"] == "jiesu.intake.v1.dlq.dispatch.router")
        ),
    )

    assert_reported(problems(tree), "KafkaTopics", "jiesu.intake.v1.dlq.dispatch.router is missing")


def test_a_service_without_deployment_files_is_reported(tree: Path) -> None:
    shutil.rmtree(tree / "deploy/k8s/dispatch")

    found = problems(tree)

    assert_reported(found, "deploy/k8s/dispatch", "missing")
    assert_reported(found, "deploy/k8s/kustomization.yaml", "'dispatch'", "does not exist")


def test_the_images_come_from_one_dockerfile(tree: Path) -> None:
    (tree / "services/dispatch/Dockerfile").write_text("FROM python:3.11-slim\n")
    dockerfile = tree / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("JIESU_SERVICE=${SERVICE}", "X=1"))

    found = problems(tree)

    assert_reported(found, "services/dispatch/Dockerfile", "no Dockerfile of its own")
    assert_reported(found, "Dockerfile", "JIESU_SERVICE=${SERVICE}")


def test_a_compose_build_with_the_wrong_port_or_recipe_is_reported(tree: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        services = docs[0]["services"]
        services["intake"]["build"] = {
            "context": "..",
            "dockerfile": "Dockerfile",
            "args": {"SERVICE": "intake", "PORT": "8002"},
        }
        services["console"]["build"]["dockerfile"] = "services/console/Dockerfile"

    edit_yaml(tree / "deploy/docker-compose.yml", change)

    found = problems(tree)

    assert_reported(found, "services.intake.build.args.PORT must be 8001")
    assert_reported(found, "services.console.build must use the shared Dockerfile")


def test_manifests_naming_a_service_that_does_not_exist_are_reported(tree: Path) -> None:
    (tree / "services/dispatch/pyproject.toml").unlink()

    found = problems(tree)

    assert_reported(found, "deploy/k8s/dispatch", "names a service that does not exist")
    assert_reported(found, "services.dispatch ", "names a service that does not exist")
    assert_reported(found, "prometheus.yml", "'dispatch' names a service that does not exist")


def test_service_links_must_be_off(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/intake/deployment.yaml",
        lambda docs: docs[0]["spec"]["template"]["spec"].pop("enableServiceLinks"),
    )

    assert_reported(problems(tree), "Deployment/jiesu-intake", "enableServiceLinks")


def test_a_writable_root_filesystem_is_reported(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/intake/migrate-job.yaml",
        lambda docs: first_container(docs)["securityContext"].pop("readOnlyRootFilesystem"),
    )

    assert_reported(problems(tree), "Job/jiesu-intake-migrate", "readOnlyRootFilesystem")


def test_a_service_given_its_own_jwt_secret_in_compose_is_reported(tree: Path) -> None:
    path = tree / "deploy/docker-compose.yml"
    path.write_text(
        path.read_text().replace(
            "JIESU_REVIEW_AUTH__JWT_SECRET: ${JWT_SECRET:?",
            "JIESU_REVIEW_AUTH__JWT_SECRET: ${REVIEW_JWT_SECRET:?",
        )
    )

    assert_reported(problems(tree), "different JWT secrets", "review from ${REVIEW_JWT_SECRET}")


def test_a_shared_jwt_secret_in_kubernetes_is_reported(tree: Path) -> None:
    def shared_secret(docs: list[dict[str, Any]]) -> None:
        first_container(docs)["env"].append(
            {
                "name": "JIESU_METRICS_AUTH__JWT_SECRET",
                "valueFrom": {"secretKeyRef": {"name": "jiesu-auth", "key": "jwt-secret"}},
            }
        )

    edit_yaml(tree / "deploy/k8s/metrics/deployment.yaml", shared_secret)

    assert_reported(problems(tree), "metrics: JIESU_METRICS_AUTH__JWT_SECRET is set")


def test_a_service_left_in_development_mode_in_kubernetes_is_reported(tree: Path) -> None:
    path = tree / "deploy/k8s/dispatch/configmap.yaml"
    path.write_text(
        path.read_text().replace(
            "JIESU_DISPATCH_AUTH__MODE: production", "JIESU_DISPATCH_AUTH__MODE: development"
        )
    )

    assert_reported(problems(tree), "dispatch: JIESU_DISPATCH_AUTH__MODE must be production")


def test_two_services_sharing_one_oauth_client_secret_are_reported(tree: Path) -> None:
    def borrow(docs: list[dict[str, Any]]) -> None:
        for item in first_container(docs)["env"]:
            if item["name"] == "JIESU_REVIEW_AUTH__CLIENT_SECRET":
                item["valueFrom"]["secretKeyRef"]["name"] = "jiesu-department-oidc"

    edit_yaml(tree / "deploy/k8s/review/deployment.yaml", borrow)

    assert_reported(problems(tree), "department, review share one client secret")


def test_a_calling_service_without_its_client_secret_is_reported(tree: Path) -> None:
    def drop_secret(docs: list[dict[str, Any]]) -> None:
        env = first_container(docs)["env"]
        env[:] = [i for i in env if i["name"] != "JIESU_INTAKE_AUTH__CLIENT_SECRET"]

    edit_yaml(tree / "deploy/k8s/intake/deployment.yaml", drop_secret)

    assert_reported(problems(tree), "intake: JIESU_INTAKE_AUTH__CLIENT_SECRET must come from")


def test_services_trusting_different_issuers_are_reported(tree: Path) -> None:
    path = tree / "deploy/k8s/review/configmap.yaml"
    path.write_text(
        path.read_text().replace("sso.example.gov.cn/realms/jiesu", "other.example/realms/x")
    )

    assert_reported(problems(tree), "services trust different issuers")


def test_the_command_line_exits_1_and_lists_the_problem(tree: Path) -> None:
    edit_yaml(
        tree / "deploy/k8s/intake/configmap.yaml",
        lambda docs: docs[0]["data"].update(JIESU_INTAKE_DATABASE__URLX="x"),
    )

    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tree)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "JIESU_INTAKE_DATABASE__URLX" in result.stdout
    assert "problem" in result.stderr


SURVEY_SETTINGS = """
from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


class SurveySettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="JIESU_SURVEY_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "survey"
    port: int = 8009
"""

SURVEY_MAIN = """
from types import SimpleNamespace

from jiesu_common.runtime import ConsumerSpec


def create_context(settings):
    consumer = ConsumerSpec(group_id="survey.panel", topics=["jiesu.review.v1"], handlers={})
    return SimpleNamespace(produces=["jiesu.review.v1"], consumers=[consumer])
"""


@pytest.fixture
def new_service(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A service that joined the workspace (services/survey) before its deployment files."""
    package = tmp_path / "site" / "jiesu_survey"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SURVEY_SETTINGS)
    (package / "main.py").write_text(SURVEY_MAIN)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tree / "services" / "survey").mkdir()
    (tree / "services" / "survey" / "pyproject.toml").write_text(
        '[project]\nname = "jiesu-survey"\nversion = "0.1.0"\n'
    )
    yield tree
    for name in [m for m in sys.modules if m.startswith("jiesu_survey")]:
        del sys.modules[name]


def test_a_new_service_without_deployment_files_is_reported_everywhere(new_service: Path) -> None:
    found = problems(new_service)

    assert_reported(found, "services.survey missing")
    assert_reported(found, "services.survey-migrate missing")
    assert_reported(found, "SERVICE_DATABASES lacks survey")
    assert_reported(found, "prometheus.yml", "'survey'")
    assert_reported(found, "deploy/k8s/survey", "missing")
    assert_reported(found, "kustomization.yaml", "jiesu/survey")
    assert_reported(found, "KafkaTopics", "jiesu.review.v1.dlq.survey.panel is missing")
    assert_reported(found, "services.kafka-topics", "jiesu.review.v1.dlq.survey.panel is missing")


def test_the_console_needs_no_database_but_the_same_serving_policy(tree: Path) -> None:
    # A front end without a database: a migration Job in its directory is a mistake ...
    shutil.copy(tree / "deploy/k8s/metrics/migrate-job.yaml", tree / "deploy/k8s/console/")
    edit_yaml(
        tree / "deploy/k8s/console/migrate-job.yaml",
        lambda docs: docs[0]["metadata"]["labels"].update(
            {"app.kubernetes.io/name": "jiesu-console"}
        ),
    )
    # ... and it still needs two replicas and probes like every service.
    edit_yaml(
        tree / "deploy/k8s/console/deployment.yaml",
        lambda docs: (
            docs[0]["spec"].update(replicas=1),
            first_container(docs).pop("livenessProbe"),
        ),
    )

    found = problems(tree)
    assert_reported(found, "console", "no database: no Job")
    assert_reported(found, "Deployment/jiesu-console", "replicas must be at least 2")
    assert_reported(found, "Deployment/jiesu-console", "livenessProbe is missing")
