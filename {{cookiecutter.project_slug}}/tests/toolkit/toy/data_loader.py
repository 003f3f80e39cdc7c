"""The toy task's datasets, read from the shards that toy/data.py writes."""

from {{ cookiecutter.project_slug }}.toolkit.base_dataset import Field, FishboticsDataset


class ToyStepDataset(FishboticsDataset):
    """Single expert steps: from a position and a goal, the expert's move."""

    fields = {
        "position": Field("steps/position", "float32", (2,)),
        "goal": Field("steps/goal", "float32", (2,)),
        "supervision": Field("steps/move", "float32", (2,)),
    }
{% if cookiecutter.include_rollout_phase %}


class ToyRolloutDataset(FishboticsDataset):
    """Whole expert paths, for rolling the policy out from their start."""

    fields = {
        "position": Field("paths/start", "float32", (2,)),
        "goal": Field("paths/goal", "float32", (2,)),
        "supervision": Field("paths/positions", "float32", (None, 2)),
    }
{% endif %}
