"""The schema of a run config: every key, its type and its default.

To add a field, add it here and document it in sample_runconfig.yaml. Names of
classes and functions (`model_type`, `loss_function`, `*_data_loader_type`) are
only checked to be strings here; config.py looks them up in their modules.
"""

import math
from pathlib import Path

from voluptuous import All, Any, In, Invalid, Length, Match, Optional, Range, Required, Schema

from {{ cookiecutter.project_slug }}.toolkit.yaml_files import shown

{% if cookiecutter.include_rollout_phase %}
# The kinds of dataset a config names, as `<kind>_data_loader_type`: the training data,
# the held-out data of the loss phases (val every epoch, test once at the end), and
# the rollout's (likewise).
DATA_LOADERS = ("train", "test", "rollout")
{% else %}
# The kinds of dataset a config names, as `<kind>_data_loader_type`: the training data,
# and the held-out data (read by the val phase every epoch, by the test once at the end).
DATA_LOADERS = ("train", "test")
{% endif %}
# NumPy takes seeds below 2**32, and the trainer adds small offsets to the seed (one
# stream per phase), so seeds stop well short of it.
MAX_SEED = 2**31 - 1


def integer(value: object) -> int:
    # bool is an int to Python, but `epochs: yes` is a mistake, not 1 epoch.
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"expected an integer, got {shown(value)}")
    return value


def number(value: object) -> float:
    # .inf and .nan are floats to YAML, but no count of seconds.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Invalid(f"expected a finite number, got {shown(value)}")
    return float(value)


def boolean(value: object) -> bool:
    # YAML reads true/false and yes/no as booleans; a quoted "false" would be truthy.
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {shown(value)}")
    return value


def path(value: object) -> str:
    """A file or directory name; `~` and `~user` must name a home directory."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise Invalid(f"expected a path, got {shown(value)}")
    try:
        expanded = Path(value).expanduser()
    except RuntimeError:  # Python 3.11 and older, for an unknown user
        expanded = Path(value)
    if expanded.parts and expanded.parts[0].startswith("~"):
        raise Invalid(
            f"{shown(value)} starts with {expanded.parts[0]}, which names no "
            "user's home directory here; give the full path"
        )
    return value


def optional_path(value: object) -> str | None:
    return None if value is None else path(value)


name = All(str, Length(min=1), msg="expected a name")
optional_name = Any(None, name, msg="expected a name, or null to skip the phase")
parameters = {str: object}
split = All(str, Match(r"^\w[\w.-]*$"), msg="expected the name of a folder in data_directory")
# Which epoch's checkpoint is the run's best ("selected"): the one where `metric` is
# lowest (mode min) or highest (max). The test split is read once, at the end, by it.
SELECTION = {
    Optional("metric", default="val/loss"): All(
        str, Match(r"^\w+/\w+$"), msg="expected PHASE/NAME, e.g. val/loss"
    ),
    Optional("mode", default="min"): In(["min", "max"], msg="expected min or max"),
    Optional("patience", default=None): Any(
        None,
        All(integer, Range(min=1)),
        msg="expected a number of epochs (1 or more), or null never to stop early",
    ),
}

# How the learning rate changes. exponential: the model's scheduler(optimizer), stepped
# after every epoch (by default, times model_parameters.learning_rate_decay); warmup_cosine:
# a linear warmup, then a cosine down to final_learning_rate, stepped after every
# optimizer step. The warmup_cosine keys mean nothing to exponential, so they are refused
# there rather than silently ignored.
LEARNING_RATE_SCHEDULE = {
    Optional("type", default="exponential"): In(
        ["exponential", "warmup_cosine"], msg="expected exponential or warmup_cosine"
    ),
    Optional("warmup_steps"): All(integer, Range(min=0)),
    Optional("final_learning_rate"): All(number, Range(min=0), msg="expected a finite number >= 0"),
}
WARMUP_COSINE_KEYS = ("warmup_steps", "final_learning_rate")


def schedule_settings(schedule: dict) -> dict:
    """The schedule with warmup_cosine's defaults filled in, or its keys refused
    under exponential."""
    if schedule["type"] == "warmup_cosine":
        return {"type": "warmup_cosine", "warmup_steps": 0, "final_learning_rate": 0.0, **schedule}
    for key in WARMUP_COSINE_KEYS:
        if key in schedule:
            raise Invalid(
                f"{key} belongs to type warmup_cosine; the exponential schedule "
                "multiplies the rate by model_parameters.learning_rate_decay "
                "after every epoch. Set type: warmup_cosine, or remove the key",
                path=[key],
            )
    return schedule
{% if cookiecutter.multi_gpu %}


# The seed toolkit's multi-GPU block. With it, run.py spawns ngpus_per_node processes on
# this node; node_idx, num_nodes and url place this node in a multi-node job.
MULTIGPU_PARAMETERS = {
    Required("ngpus_per_node"): All(integer, Range(min=1)),
    Optional("backend", default="nccl"): In(["nccl", "gloo"], msg="expected nccl or gloo"),
    Optional("node_idx", default=0): All(integer, Range(min=0)),
    Optional("num_nodes", default=1): All(integer, Range(min=1)),
    Optional("url", default="tcp://127.0.0.1:12344"): All(
        str,
        Match(r"^tcp://[^:/]+:\d+$"),
        msg="expected tcp://HOST:PORT, e.g. tcp://10.0.0.1:12344",
    ),
}


def node_within_job(parameters: dict) -> dict:
    if parameters["node_idx"] >= parameters["num_nodes"]:
        raise Invalid(
            f"node_idx {parameters['node_idx']} is not below num_nodes "
            f"{parameters['num_nodes']} (nodes count from 0)",
            path=["node_idx"],
        )
    return parameters
{% endif %}


RUN_CONFIG = Schema(
    {
        Required("description"): All(str, Length(min=1), msg="describe what this run is for"),
        Required("data_directory"): path,
        Optional("bootstrap_model_file", default=None): optional_path,
        Required("model_type"): name,
        Optional("model_parameters", default=dict): parameters,
        Required("loss_function"): name,
        Required("epochs"): All(integer, Range(min=1)),
        Required("batch_size"): All(integer, Range(min=1)),
        Optional("checkpoint_interval", default=None): Any(
            None,
            All(number, Range(min=0, min_included=False)),
            msg="expected seconds (a positive number), or null for no mid-epoch checkpoints",
        ),
        Optional("log_interval", default=50): All(integer, Range(min=1)),
        Optional("gradient_clip_norm", default=None): Any(
            None,
            All(number, Range(min=0, min_included=False)),
            msg="expected a positive number (the largest gradient norm), or null for no clipping",
        ),
        Optional("gradient_accumulation_steps", default=1): All(integer, Range(min=1)),
        Optional("learning_rate_schedule", default=lambda: {"type": "exponential"}): All(
            LEARNING_RATE_SCHEDULE, schedule_settings
        ),
        Required("train_data_loader_type"): name,
        Optional("test_data_loader_type", default=None): optional_name,
{% if cookiecutter.include_rollout_phase %}
        Optional("rollout_data_loader_type", default=None): optional_name,
        Optional("rollout_max_samples", default=1000): All(integer, Range(min=1)),
{% endif %}
        Optional("val_split", default="val"): split,
        Optional("selection", default=dict): SELECTION,
        Optional("data_loader_parameters", default=dict): {
            Optional(kind): parameters for kind in ("all", *DATA_LOADERS)
        },
        Optional("num_workers", default=0): All(integer, Range(min=0)),
        Optional("seed", default=0): All(
            integer,
            Range(min=0, max=MAX_SEED),
            msg=f"expected an integer from 0 to {MAX_SEED}",
        ),
        Optional("mixed_precision", default=None): Any(
            None,
            "bf16",
            msg="expected bf16, or null to train in float32 throughout",
        ),
        Optional("compile_model", default=False): boolean,
{% if cookiecutter.multi_gpu %}
        Optional("multigpu_parameters", default=None): Any(
            None,
            All(MULTIGPU_PARAMETERS, node_within_job),
        ),
{% endif %}
    }
)

TOP_LEVEL_KEYS = tuple(str(key) for key in RUN_CONFIG.schema)


def knows_key(keys: list[str]) -> bool:
    """Whether the schema has a place for a nested key (["model_parameters", "hidden_size"])."""
    level: object = RUN_CONFIG.schema
    for key in keys:
        if not isinstance(level, dict):
            return False
        matches = [value for marker, value in level.items() if str(marker) == key]
        if matches:
            level = mapping_inside(matches[0])
        elif str in level:
            return True  # free-form parameters: the constructor they go to checks them
        else:
            return False
    return True


def mapping_inside(validator: object) -> object:
    """The mapping a validator such as Any(None, All({...}, check)) wraps, if any."""
    for inner in getattr(validator, "validators", ()):
        found = mapping_inside(inner)
        if isinstance(found, dict):
            return found
    return validator
