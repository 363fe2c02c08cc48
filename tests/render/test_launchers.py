"""The launchers' manifests validate against the real schemas: Kubeflow Trainer's and the training
operator's Python models (whose required fields and types are checked, and which must give back
every key they are given) and SkyPilot's own task schema. The shipped multi-node examples are the
cases; their files are the committed generated/ ones (test_golden keeps them current)."""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT

from ftspec import api

GENERATED = ROOT / "generated"
FILLED = {"${IMAGE}": "registry.example/team/train:1", "${VOLUME}": "project-claim"}


def manifest(path: Path) -> dict:
    """A generated manifest as `envsubst '${IMAGE} ${VOLUME}'` leaves it for the cluster."""
    text = path.read_text(encoding="utf-8")
    for placeholder, value in FILLED.items():
        text = text.replace(placeholder, value)
    return yaml.safe_load(text)


def trainjob_round_trip(doc: dict) -> dict:
    from kubeflow_trainer_api.models.trainer_v1alpha1_train_job import TrainerV1alpha1TrainJob

    return TrainerV1alpha1TrainJob.from_dict(doc).to_dict()


def pytorchjob_round_trip(doc: dict) -> dict:
    from kubeflow.training import ApiClient

    client = ApiClient()
    # The client's own deserializer: it raises on a missing required field or a wrong type.
    job = client._ApiClient__deserialize(doc, "KubeflowOrgV1PyTorchJob")
    return client.sanitize_for_serialization(job)


def skypilot_task_schema() -> dict:
    """SkyPilot's task schema, from the installed `skypilot` package's `sky/utils/schemas.py`.

    `import sky` pulls in SkyPilot's API server and clients, whose dependencies cannot be installed
    beside the training stack (SkyPilot pins click<8.2, huggingface_hub needs >=8.4.2), so the schema
    module is loaded on its own: its package parents are bare, its small dependencies real, and of
    `autostop_lib` only the enum the schema reads; the API server's daemons (for keys of the server's
    config, which a task cannot set) are an empty list.
    """
    try:
        distribution = importlib.metadata.distribution("skypilot")
    except importlib.metadata.PackageNotFoundError:  # .ci/run installs it; a plain set-up may not have
        pytest.skip("SkyPilot's schema needs `pip install --no-deps 'skypilot==0.14.1'` (its pins conflict)")
    root = Path(distribution.locate_file("sky"))
    saved = {name: module for name, module in sys.modules.items() if name == "sky" or name.startswith("sky.")}
    try:
        for name, folder in (("sky", root), ("sky.skylet", root / "skylet"), ("sky.utils", root / "utils")):
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
        sys.modules["sky"].__version__ = distribution.version
        source = (root / "skylet" / "autostop_lib.py").read_text(encoding="utf-8")
        tree = ast.parse(source)
        wanted = [
            node
            for node in tree.body
            if (isinstance(node, ast.ClassDef) and node.name == "AutostopWaitFor")
            or (isinstance(node, ast.Import) and node.names[0].name == "enum")
            or (isinstance(node, ast.ImportFrom) and node.module == "typing")
        ]
        autostop = types.ModuleType("sky.skylet.autostop_lib")
        exec(compile(ast.Module(wanted, []), "autostop_lib.py", "exec"), autostop.__dict__)
        sys.modules["sky.skylet.autostop_lib"] = autostop
        # The server's daemons name only keys of the API server's own config, which a task cannot set.
        sys.modules["sky.server"] = types.ModuleType("sky.server")
        daemons = types.ModuleType("sky.server.daemons")
        daemons.INTERNAL_REQUEST_DAEMONS = []
        sys.modules["sky.server.daemons"] = daemons
        from sky.utils import schemas

        return schemas.get_task_schema()
    finally:
        for name in [name for name in sys.modules if name == "sky" or name.startswith("sky.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def skypilot_validate(doc: dict, schema: dict) -> None:
    # SkyPilot validates with Draft 7 plus its `case_insensitive_enum` keyword (common_utils).
    def case_insensitive_enum(validator, enums, instance, schema):
        if isinstance(instance, str) and instance.lower() not in [value.lower() for value in enums]:
            yield jsonschema.ValidationError(f"{instance!r} is not one of {enums}")

    validator = jsonschema.validators.extend(
        jsonschema.Draft7Validator, {"case_insensitive_enum": case_insensitive_enum}
    )
    validator(schema).validate(doc)


def test_the_trainjob_is_a_valid_kubeflow_trainer_object():
    doc = manifest(GENERATED / "clinic-sentiment-k8s" / "trainjob.yaml")
    assert trainjob_round_trip(doc) == doc
    assert (doc["apiVersion"], doc["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    trainer = doc["spec"]["trainer"]
    assert trainer["numNodes"] == 2 and trainer["resourcesPerNode"]["limits"] == {"nvidia.com/gpu": "8"}
    assert trainer["image"] == FILLED["${IMAGE}"]
    pod = doc["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    pod = pod["template"]["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == FILLED["${VOLUME}"]
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/workspace"


def test_a_misspelled_key_is_caught_by_the_round_trip():
    doc = manifest(GENERATED / "clinic-sentiment-k8s" / "trainjob.yaml")
    doc["spec"]["trainer"]["numNode"] = doc["spec"]["trainer"].pop("numNodes")
    assert trainjob_round_trip(doc) != doc
    with pytest.raises(ValueError):
        pytorchjob_round_trip({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {}})


def test_the_pytorchjob_is_a_valid_training_operator_object():
    doc = manifest(GENERATED / "clinic-sentiment-k8s" / "pytorchjob.yaml")
    assert pytorchjob_round_trip(doc) == doc
    replicas = doc["spec"]["pytorchReplicaSpecs"]
    assert {role: spec["replicas"] for role, spec in replicas.items()} == {"Master": 1, "Worker": 1}
    container = replicas["Worker"]["template"]["spec"]["containers"][0]
    assert container["name"] == "pytorch" and container["resources"]["limits"] == {"nvidia.com/gpu": "8"}


@pytest.mark.parametrize("name", ["trainjob.yaml", "pytorchjob.yaml", "skypilot.yaml"])
def test_every_machine_runs_the_generated_launch_sh_on_the_volume(name):
    folder = "clinic-sentiment-sky" if name == "skypilot.yaml" else "clinic-sentiment-k8s"
    text = (GENERATED / folder / name).read_text(encoding="utf-8")
    doc = manifest(GENERATED / folder / name)
    if name == "trainjob.yaml":
        script = doc["spec"]["trainer"]["command"][2]
    elif name == "pytorchjob.yaml":
        script = doc["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["command"][2]
    else:
        script = doc["run"]
    where = script.split("'")[1]
    assert where == f"/workspace/generated/{folder}"
    # The volume holds the project from its root: launch.sh is where the manifest looks for it.
    assert (ROOT / Path(where).relative_to("/workspace") / "launch.sh").is_file()
    assert script.endswith("exec ./launch.sh") and "MACHINE_RANK=" in script
    assert "${IMAGE}" in text and "${VOLUME}" in text and "envsubst '${IMAGE} ${VOLUME}'" in text


def test_the_skypilot_task_validates_against_skypilot_s_schema():
    schema = skypilot_task_schema()
    doc = manifest(GENERATED / "clinic-sentiment-sky" / "skypilot.yaml")
    skypilot_validate(doc, schema)
    assert doc["num_nodes"] == 2 and doc["resources"]["accelerators"] == "H100:8"
    assert doc["resources"]["image_id"] == "docker:" + FILLED["${IMAGE}"]
    assert doc["volumes"] == {"/workspace": FILLED["${VOLUME}"]}
    with pytest.raises(jsonschema.ValidationError):
        skypilot_validate({**doc, "num_node": 2}, schema)


def compile_text(tmp_path: Path, text: str, target: str | None = None) -> api.Result:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "train.jsonl").write_text('{"text": "a b c"}\n')
    spec = tmp_path / "spec.ft"
    spec.write_text(text)
    result = api.compile_spec(spec, tmp_path / "out", target=target)
    assert result.ok, [d.message for d in result.diagnostics]
    return result


SMALL = """name = "{name}"
data {{ train = "train.jsonl" }}
tokenizer {{ train = true }}
strategy scratch {{ }}
hardware {{
{hardware}
}}
"""


def test_names_from_the_spec_replace_the_placeholders_and_a_cpu_target_asks_for_no_gpu(tmp_path):
    hardware = 'nodes = 4\n launcher = kubernetes\n image = "ghcr.io/me/t:2"\n volume = "mine"'
    result = compile_text(tmp_path, SMALL.format(name="Tiny_Model.v2", hardware=hardware), target="cpu")
    files = result.files
    for name in ("trainjob.yaml", "pytorchjob.yaml"):
        doc = yaml.safe_load(files[name])
        assert "${" not in json.dumps(doc) and "nvidia.com/gpu" not in files[name]
        assert doc["metadata"]["name"] == "tiny-model-v2"
    trainjob = yaml.safe_load(files["trainjob.yaml"])
    assert trainjob_round_trip(trainjob) == trainjob and trainjob["spec"]["trainer"]["image"] == "ghcr.io/me/t:2"
    pytorchjob = yaml.safe_load(files["pytorchjob.yaml"])
    assert pytorchjob_round_trip(pytorchjob) == pytorchjob
    assert pytorchjob["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    assert "slurm.sh" not in files and "skypilot.yaml" not in files


def test_one_machine_has_a_master_and_no_workers_and_skypilot_on_cpu_asks_for_no_accelerator(tmp_path):
    result = compile_text(tmp_path, SMALL.format(name="one", hardware="launcher = kubernetes"), target="cpu")
    pytorchjob = yaml.safe_load(result.files["pytorchjob.yaml"])
    assert list(pytorchjob["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    result = compile_text(tmp_path, SMALL.format(name="sky", hardware="launcher = skypilot"), target="cpu")
    task = yaml.safe_load(result.files["skypilot.yaml"])
    skypilot_validate(task, skypilot_task_schema())
    assert "accelerators" not in task["resources"]


def test_auto_is_slurm_for_several_machines_and_launch_sh_alone_for_one(tmp_path):
    several = compile_text(tmp_path, SMALL.format(name="a", hardware="nodes = 2"), target="cpu")
    assert "slurm.sh" in several.files and several.plan.launcher.kind == "slurm"
    one = compile_text(tmp_path, SMALL.format(name="b", hardware=""), target="cpu")
    assert one.plan.launcher.kind == "none"
    assert not {"slurm.sh", "trainjob.yaml", "pytorchjob.yaml", "skypilot.yaml"} & set(one.files)


def launched_rendezvous(tmp_path: Path, result, rank: int) -> tuple[str, str]:
    """The rendezvous backend and options `accelerate launch` resolves on machine ``rank`` from launch.sh's
    command line (as bash expands it) and the config file."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    script = result.files["launch.sh"].replace("exec accelerate launch ", "exec printf '%s\\n' ")
    (tmp_path / "launch.sh").write_text(script)
    (tmp_path / "accelerate_config.yaml").write_text(result.files["accelerate_config.yaml"])
    env = {"PATH": os.environ["PATH"], "MACHINE_RANK": str(rank), "MAIN_PROCESS_IP": "127.0.0.1"}
    words = subprocess.run(
        ["bash", str(tmp_path / "launch.sh")], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    args = launch_command_parser().parse_args(words)
    with contextlib.chdir(tmp_path):  # the config file is named relative to launch.sh's directory
        _validate_launch_command(args)
    return args.rdzv_backend, args.rdzv_conf


def test_elastic_restarts_use_the_c10d_rendezvous(tmp_path):
    hardware = "nodes = 2\n max_restarts = 2"
    result = compile_text(tmp_path, SMALL.format(name="e", hardware=hardware), target="cpu")
    assert "--max_restarts 2" in result.files["launch.sh"]
    config = yaml.safe_load(result.files["accelerate_config.yaml"])
    assert config["rdzv_backend"] == "c10d" and config["same_network"] is False
    # Accelerate takes its command line's default (static) over the config file's rdzv_backend: with a
    # static rendezvous a restarted group reads the lost workers' addresses from the old store and hangs.
    # Machine 0 hosts the rendezvous store, whichever machine starts first.
    assert launched_rendezvous(tmp_path, result, 0) == ("c10d", "is_host=1")
    assert launched_rendezvous(tmp_path, result, 1) == ("c10d", "is_host=0")
    static = compile_text(tmp_path, SMALL.format(name="s", hardware="nodes = 2"), target="cpu")
    assert "--max_restarts" not in static.files["launch.sh"]
    assert yaml.safe_load(static.files["accelerate_config.yaml"])["rdzv_backend"] == "static"


def test_fsdp_checkpoints_are_saved_sharded(tmp_path):
    hardware = "processes = 2\n distributed = fsdp"
    result = compile_text(tmp_path, SMALL.format(name="f", hardware=hardware), target="cpu")
    config = yaml.safe_load(result.files["accelerate_config.yaml"])
    assert config["fsdp_config"]["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"
