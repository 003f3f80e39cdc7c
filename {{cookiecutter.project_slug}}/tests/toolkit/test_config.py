"""Config loading: validation, name lookups and the edit flags."""

from pathlib import Path

import pytest
import torch
import yaml
from harness import DATASET, MODEL, SAMPLE, TOY_PROJECT

from {{ cookiecutter.project_slug }}.schema import TOP_LEVEL_KEYS
from {{ cookiecutter.project_slug }}.toolkit.base_model import WarmupCosine
from {{ cookiecutter.project_slug }}.toolkit.config import load_config
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError


def write_config(tmp_path: Path, **changes) -> Path:
    config = yaml.safe_load(SAMPLE.read_text())
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_sample_config_is_valid_and_defaults_are_filled():
    config = load_config(SAMPLE, TOY_PROJECT)
    assert config["model_type"] == MODEL
    assert set(config) == set(TOP_LEVEL_KEYS)


def test_every_problem_is_reported_at_once_with_its_key(tmp_path):
    path = write_config(
        tmp_path,
        epochs="ten",
        batch_size=0,
        checkpoint_interval=-5,
        data_loader_parameters={"tran": {}},
    )
    with pytest.raises(UserError) as error:
        load_config(path, TOY_PROJECT)
    message = str(error.value)
    assert "4 problem(s)" in message
    for key in ("epochs", "batch_size", "checkpoint_interval", "data_loader_parameters.tran"):
        assert f"  - {key}" in message


def test_a_boolean_is_not_an_integer(tmp_path):
    with pytest.raises(UserError, match="epochs: expected an integer, got True"):
        load_config(write_config(tmp_path, epochs=True), TOY_PROJECT)


def test_unknown_names_list_the_valid_ones(tmp_path):
    path = write_config(
        tmp_path,
        model_type="Transformer",
        loss_function="eval",
        train_data_loader_type="FishboticsDataset",
    )
    with pytest.raises(UserError) as error:
        load_config(path, TOY_PROJECT)
    message = str(error.value)
    assert (f"model_type: unknown name 'Transformer'; valid names in model.py: {MODEL}") in message
    assert "loss_function: unknown name 'eval'" in message and "mse_loss" in message
    assert "train_data_loader_type: unknown name 'FishboticsDataset'" in message


def test_constructor_parameters_are_checked(tmp_path):
    path = write_config(
        tmp_path,
        model_parameters={"hidden_sise": 3},
        data_loader_parameters={"all": {"split": "x"}, "train": {"window": 2}},
    )
    with pytest.raises(UserError) as error:
        load_config(path, TOY_PROJECT)
    message = str(error.value)
    assert f"{MODEL} has no parameter 'hidden_sise'" in message
    assert "'split' is set by the trainer" in message
    assert f"{DATASET} has no parameter 'window'" in message


def test_unknown_top_level_keys_are_warned_about_and_ignored(tmp_path, capsys):
    config = load_config(write_config(tmp_path, learning_rat=0.1), TOY_PROJECT)
    assert "learning_rat" not in config
    assert "ignoring unknown key 'learning_rat'" in capsys.readouterr().err


def test_an_unknown_key_close_to_a_known_one_is_named_in_the_warning(tmp_path, capsys):
    # A misspelt key would otherwise quietly leave its setting at the default.
    config = load_config(write_config(tmp_path, epoch=3, log_intervall=7), TOY_PROJECT)
    assert "epoch" not in config and config["log_interval"] == 50
    warnings = capsys.readouterr().err
    assert "ignoring unknown key 'epoch' (did you mean epochs?)" in warnings
    assert "ignoring unknown key 'log_intervall' (did you mean log_interval?)" in warnings


def test_duplicate_keys_are_an_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(SAMPLE.read_text() + "epochs: 3\n")
    with pytest.raises(UserError, match="duplicate key 'epochs'"):
        load_config(path, TOY_PROJECT)


def test_invalid_yaml_and_missing_files_are_user_errors(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("epochs: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(path, TOY_PROJECT)
    with pytest.raises(UserError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", TOY_PROJECT)


def test_modify_parses_yaml_values_and_creates_nested_keys():
    config = load_config(
        SAMPLE,
        TOY_PROJECT,
        modify=["checkpoint_interval", "null", "data_loader_parameters.train.mini_size", "7"],
    )
    assert config["checkpoint_interval"] is None
    assert config["data_loader_parameters"]["train"] == {"mini_size": 7}


def test_delete_falls_back_to_the_default(capsys):
    config = load_config(SAMPLE, TOY_PROJECT, delete=["seed", "bootstrap_model_file"])
    assert config["seed"] == 0
    assert config["bootstrap_model_file"] is None
    load_config(SAMPLE, TOY_PROJECT, delete=["model_parameters.dropout"])
    assert "nothing to delete" in capsys.readouterr().err


def test_the_sample_config_names_its_learning_rate_schedule_and_the_defaults_are_off():
    config = load_config(SAMPLE, TOY_PROJECT)
    assert config["learning_rate_schedule"] == {"type": "exponential"}
    assert config["gradient_accumulation_steps"] == 1 and config["gradient_clip_norm"] is None


def test_warmup_cosine_rises_linearly_then_falls_to_the_final_rate_and_stays():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    scheduler = WarmupCosine(optimizer, warmup_steps=4, total_steps=10, final_learning_rate=0.01)
    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])  # the warmup, then the peak
    assert rates[7] == pytest.approx(0.01 + 0.5 * 0.09)  # halfway down the cosine
    assert all(rate > next_rate for rate, next_rate in zip(rates[4:10], rates[5:11], strict=True))
    assert rates[10:] == pytest.approx([0.01, 0.01])
