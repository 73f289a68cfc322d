"""Every YAML file parses; docker/ray-cluster.yaml passes Ray's own cluster-config schema and
docker/rayjob.yaml has the fields KubeRay requires, both wired for the production sweep. The
secrets `ray up` copies are 0600 on the nodes, every KubeRay pod runs restricted, and no command
puts a secret on a command line (--from-literal)."""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
import subprocess

import jsonschema
import pytest
import yaml
from ray.autoscaler.sdk import get_docker_host_mount_location

from tests.docker.helpers import (
    DOCKER,
    RAY_CLUSTER,
    RAYJOB,
    REPO,
    SECRET_NAME,
    load_yaml,
    project_version,
    pyproject_pin,
)

# pathlib's glob also matches dotfiles (docker/.hadolint.yaml).
YAML_FILES = sorted(
    path
    for folder in (DOCKER, REPO / "configs")
    for pattern in ("*.yaml", "*.yml")
    for path in folder.glob(pattern)
)
ENTRYPOINT = "python -m search.run --config configs/loss_sweep.yaml"


def _image_is_the_project_image(image: str) -> bool:
    return image.rsplit("/", 1)[-1] == f"klue-loss-sweep:{project_version()}"


class _ComposeTagsLoader(yaml.SafeLoader):
    """Safe YAML that also reads Docker Compose's merge tags (``!reset``, ``!override``), which
    override files such as docker-compose.cpu.yml use (the Compose CLI checks their meaning)."""


for _tag in ("!reset", "!override"):
    _ComposeTagsLoader.add_constructor(_tag, lambda loader, node: None)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_parses(path):
    text = path.read_text()
    documents = [document for document in yaml.load_all(text, _ComposeTagsLoader) if document]
    assert documents, f"{path} holds no YAML document"


def test_the_yaml_files_include_the_cluster_files():
    assert {RAY_CLUSTER, RAYJOB, DOCKER / "docker-compose.yml"} <= set(YAML_FILES)


# --- ray up: docker/ray-cluster.yaml ------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> dict:
    return load_yaml(RAY_CLUSTER)


@pytest.fixture(scope="module")
def ray_schema() -> dict:
    # The schema `ray up` validates cluster files with, shipped in the pinned ray wheel.
    return json.loads((importlib.resources.files("ray.autoscaler") / "ray-schema.json").read_text())


def test_cluster_file_passes_rays_schema(cluster, ray_schema):
    jsonschema.validate(cluster, ray_schema)


def test_rays_schema_rejects_a_misspelled_key(cluster, ray_schema):
    broken = copy.deepcopy(cluster)
    broken["docker"]["run_option"] = broken["docker"].pop("run_options")
    with pytest.raises(jsonschema.ValidationError, match="run_option"):
        jsonschema.validate(broken, ray_schema)


def test_cluster_file_is_an_on_prem_cluster_of_the_project_image(cluster):
    assert cluster["cluster_name"]
    provider = cluster["provider"]
    assert provider["type"] == "local"
    assert isinstance(provider["head_ip"], str) and provider["head_ip"]
    assert isinstance(provider["worker_ips"], list) and provider["worker_ips"]
    assert _image_is_the_project_image(cluster["docker"]["image"])


def test_cluster_containers_get_gpus_shm_token_auth_and_the_shared_volume(cluster):
    run_options = cluster["docker"]["run_options"]
    assert "--gpus all" in run_options
    assert any(option.startswith("--shm-size=") for option in run_options)
    assert "--env RAY_AUTH_MODE=token" in run_options
    assert any(
        option.startswith("--volume ") and option.endswith(":/shared") for option in run_options
    )
    # The token reaches every node as a file, never as text in this file.
    assert "~/.ray/auth_token" in cluster["file_mounts"]
    every_option = run_options + cluster["docker"].get("head_run_options", [])
    assert not [option for option in every_option if SECRET_NAME.search(option.split("=")[0])]


# The file_mounts that hold a secret (the rest of file_mounts may be anything).
SECRET_MOUNTS = {"~/.ray/auth_token", "~/.mlflow/credentials"}


def test_copied_secrets_are_private_on_every_host(cluster):
    assert set(cluster["file_mounts"]) >= SECRET_MOUNTS
    # The launcher copies file_mounts to this folder on each host (rsync keeps the local mode);
    # initialization_commands run there after the copy and before the container starts.
    folder = get_docker_host_mount_location(cluster["cluster_name"])
    assert f"chmod -R go= {folder}" in cluster["initialization_commands"]


def test_copied_secrets_are_0600_in_every_container(cluster):
    (setup,) = cluster["setup_commands"]
    chmod = re.search(r"chmod 600 ([^&|;]+)", setup)
    assert chmod and set(chmod[1].split()) == SECRET_MOUNTS
    # Without sudo in the image, ray reads them only if it owns them: fail loudly, not later.
    assert "|| {" in setup and "exit 1" in setup


def test_cluster_start_commands_start_ray_with_gpu_counts(cluster):
    head = " ".join(cluster["head_start_ray_commands"])
    worker = " ".join(cluster["worker_start_ray_commands"])
    assert "ray start --head" in head and "--num-gpus=0" in head
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker and "--num-gpus=" in worker


# --- KubeRay: docker/rayjob.yaml ----------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    documents = [document for document in yaml.safe_load_all(RAYJOB.read_text()) if document]
    return {document["kind"]: document for document in documents}


@pytest.fixture(scope="module")
def rayjob(manifests) -> dict:
    return manifests["RayJob"]


def _containers(rayjob: dict) -> dict[str, dict]:
    cluster = rayjob["spec"]["rayClusterSpec"]
    groups = {"head": cluster["headGroupSpec"]}
    groups.update({group["groupName"]: group for group in cluster["workerGroupSpecs"]})
    return {name: group["template"]["spec"]["containers"][0] for name, group in groups.items()}


def test_rayjob_runs_the_production_sweep(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1"
    assert rayjob["kind"] == "RayJob"
    assert rayjob["spec"]["entrypoint"] == ENTRYPOINT
    assert (REPO / "configs" / "loss_sweep.yaml").is_file()
    assert rayjob["spec"]["shutdownAfterJobFinishes"] is True
    assert isinstance(rayjob["spec"]["ttlSecondsAfterFinished"], int)
    assert rayjob["spec"]["ttlSecondsAfterFinished"] > 0


def test_rayjob_cluster_has_the_fields_kuberay_requires(rayjob):
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == pyproject_pin("ray")
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        # KubeRay's CRD types rayStartParams as map[string]string: a bare number is refused.
        assert all(isinstance(value, str) for value in group["rayStartParams"].values())
        assert group["template"]["spec"]["containers"][0]["image"]
    assert cluster["workerGroupSpecs"], "the trials need GPU workers"
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) >= 1
        assert group["rayStartParams"]["num-gpus"] == str(limits["nvidia.com/gpu"])
    assert cluster["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"


def test_rayjob_pods_run_the_project_image(rayjob):
    submitter = rayjob["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    images = [container["image"] for container in _containers(rayjob).values()] + [
        submitter["image"]
    ]
    assert all(_image_is_the_project_image(image) for image in images), images


def test_rayjob_mounts_a_shared_read_write_many_volume_at_shared(rayjob, manifests):
    claim = manifests["PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    cluster = rayjob["spec"]["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group, container in zip(groups, _containers(rayjob).values(), strict=True):
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in group["template"]["spec"]["volumes"]}
        shared = volumes[mounts["/shared"]]
        assert shared["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"


def test_rayjob_uses_token_auth_and_secrets_by_reference(rayjob):
    auth = rayjob["spec"]["rayClusterSpec"]["authOptions"]
    assert auth["mode"] == "token"
    assert auth["secretName"]
    for name, container in _containers(rayjob).items():
        environment = {variable["name"]: variable for variable in container["env"]}
        assert environment["MLFLOW_TRACKING_URI"]["value"].startswith("http")
        assert environment["SWEEP_STORAGE"]["value"].startswith("/shared/")
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            assert environment[key]["valueFrom"]["secretKeyRef"]["name"], f"{name}.{key}"
        written = [key for key, variable in environment.items() if "value" in variable]
        assert not [key for key in written if SECRET_NAME.search(key)], f"{name}: {written}"


def _pods(rayjob: dict) -> dict[str, dict]:
    cluster = rayjob["spec"]["rayClusterSpec"]
    pods = {"submitter": rayjob["spec"]["submitterPodTemplate"]["spec"]}
    pods["head"] = cluster["headGroupSpec"]["template"]["spec"]
    pods.update({g["groupName"]: g["template"]["spec"] for g in cluster["workerGroupSpecs"]})
    return pods


def test_every_rayjob_pod_runs_restricted(rayjob):
    # The restricted Pod Security Standard's settings, on every pod and every container
    # (KubeRay copies the worker container's to the init container it adds).
    for name, pod in _pods(rayjob).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 1000, name  # the image's ray
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["runAsNonRoot"] is True, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert not context["capabilities"].get("add"), name
            assert not context.get("privileged"), name


def _command_texts() -> dict[str, str]:
    """docs/cluster.md (the cluster commands) and every tracked file under docker/ (never a real
    docker/.env)."""
    tracked = subprocess.run(
        ["git", "ls-files", "docker"], cwd=REPO, capture_output=True, text=True, timeout=30
    ).stdout.split()
    files = [REPO / "docs" / "cluster.md", *(REPO / name for name in tracked)]
    return {str(path.relative_to(REPO)): path.read_text(errors="replace") for path in files}


def test_no_secret_is_put_on_a_command_line():
    # --from-literal puts the secret in shell history and in `ps` for every user of the machine.
    for name, text in _command_texts().items():
        assert "--from-literal" not in text, name
    for name in ("docs/cluster.md", "docker/rayjob.yaml"):
        creates = re.findall(
            r"kubectl create secret generic (?:[^\n\\]|\\\n)*", _command_texts()[name]
        )
        assert creates, f"{name} says how to create the Secrets"
        assert all("--from-file=" in create for create in creates), creates


def test_secret_files_are_created_private():
    for name in ("docs/cluster.md", "docker/ray-cluster.yaml", "docker/rayjob.yaml"):
        assert "umask 077" in _command_texts()[name], name
