"""The config as TensorBoard's HParams view shows it, for comparing runs side by side."""

import json


def hparams_summary(config: dict):
    """The config as a TensorBoard HParams session, for comparing runs side by side.

    Only the session's start is written. An experiment summary (what `add_hparams`
    also writes) would be taken by TensorBoard as the list of hparams and metrics of
    every run in the log directory; without one it gathers them from all the runs'
    sessions and scalar tags, whose last values are the metrics it shows.
    """
    from torch.utils.tensorboard.summary import hparams

    _, session_start, _ = hparams(flat_hparams(config), {})
    return session_start


def flat_hparams(config: dict) -> dict:
    """`config` with nested keys dotted (model_parameters.hidden_size). HParams takes
    numbers and strings: other values (lists, null, an empty mapping) become their
    JSON text, and so do booleans, which torch's hparams() would turn into 0 and 1.
    Anything else YAML can hold in model_parameters (a date) goes in as str()."""
    return {
        name: value
        if isinstance(value, (int, float, str)) and not isinstance(value, bool)
        else json.dumps(value, default=str)
        for name, value in flat_config(config).items()
    }


def flat_config(config: dict, prefix: str = "") -> dict:
    """`config`'s values by dotted key (model_parameters.hidden_size), as they are; an
    empty mapping is a value of its own."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_config(value, f"{name}."))
        else:
            flat[name] = value
    return flat
