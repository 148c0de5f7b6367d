"""cluster.yaml is a valid Ray cluster-launcher config with what a GPU training cluster needs."""

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.conftest import REPO


def _config():
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_validates_against_rays_own_launcher_schema():
    validate_config(prepare_config(_config()))  # raises on a missing or misspelt key


def test_cpu_head_gpu_workers_and_setup():
    c = _config()
    assert c["provider"]["type"] == "aws" and c["provider"]["region"]
    types = c["available_node_types"]
    head = types[c["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # the head trains nothing
    workers = [t for name, t in types.items() if name != c["head_node_type"]]
    assert workers and all(t["node_config"]["InstanceType"].split(".")[0][0] in "gp" for t in workers)
    setup = "\n".join(c["setup_commands"])
    assert "dataset-fashion-mnist" in setup and "jobs/prepare_data.py mnist fashion_mnist" in setup
    assert "pip install" in setup and "~/smoot_dist" in c["file_mounts"]
    assert any("--dashboard-host=127.0.0.1" in cmd for cmd in c["head_start_ray_commands"])


def test_the_cluster_page_gives_the_cluster_commands():
    readme = (REPO / "docs" / "cluster.md").read_text()
    for command in ("ray up cluster.yaml", "ray dashboard cluster.yaml",
                    "ray job submit --address http://127.0.0.1:8265 --working-dir . --",
                    "--storage-path s3://", "ray down cluster.yaml"):
        assert command in readme, command
