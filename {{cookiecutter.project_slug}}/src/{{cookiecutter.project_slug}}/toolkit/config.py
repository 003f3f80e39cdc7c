"""Turn a YAML file and the command line's edits into a validated run config.

Edits (`--find-replace`, `--delete`, `--modify`) are applied before validation,
so an edited config is checked exactly like a typed one and saved as it ran.
Every problem is reported at once, with the key it concerns.
"""

import difflib
import inspect
import os
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import yaml
from voluptuous import MultipleInvalid

from {{ cookiecutter.project_slug }}.toolkit.base_dataset import FishboticsDataset
from {{ cookiecutter.project_slug }}.toolkit.base_model import FishboticsModel
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.project import Project
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import (
    YAMLRefused,
    located,
    parse_config,
    read_text,
    shown,
)

# The constructor arguments that the trainer passes to every dataset itself.
DATASET_ARGUMENTS = ("data_directory", "split", "mini")
# The longest problem line a message shows (a key can be any length).
PROBLEM_WIDTH = 300


def load_config(
    path: str | Path,
    project: Project,
    find_replace: Sequence[str] = (),
    delete: Sequence[str] = (),
    modify: Sequence[str] = (),
) -> dict:
    """The validated config of `path` after the edits, with every default filled in;
    `project`'s schema says what a config holds, its modules what its names name."""
    path = Path(path)
    try:
        text = read_text(path)
    except OSError as error:
        raise UserError(f"cannot read config file {path}: {error.strerror}") from None
    text = apply_find_replace(text, find_replace, path)
    config = parse_yaml(text, path)
    apply_deletions(config, delete, path, project.schema)
    apply_modifications(config, modify, project.schema)
    for key in [key for key in config if key not in project.schema.TOP_LEVEL_KEYS]:
        # A misspelt or renamed key would otherwise quietly turn its setting off.
        close = difflib.get_close_matches(str(key), project.schema.TOP_LEVEL_KEYS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warn(f"{path}: ignoring unknown key {shown(key)}{hint}")
        del config[key]
    return validate(config, path, project)


def validate(config: dict, source: Path | str, project: Project) -> dict:
    """`config` checked against the schema and the code's names, defaults filled in;
    `source` says where it came from in a message about a problem."""
    try:
        config = project.schema.RUN_CONFIG(config)
    except MultipleInvalid as error:
        raise UserError(
            problem_list(
                source,
                [f"{'.'.join(map(str, problem.path))}: {problem.msg}" for problem in error.errors],
            )
        ) from None
    problems = name_problems(config, project)
    if problems:
        raise UserError(problem_list(source, problems))
    return config


def resolve_path(value: str, root: Path) -> Path:
    """A path from the config: relative ones are relative to the project root."""
    return (root / Path(value).expanduser()).resolve()


def path_inside(value: str, field: str, directory: str, nested: bool = True) -> Path:
    """`value`, a path relative to `directory`, normalised: `test/` and `./test` are
    `test`. The one rule for a path that a flag or a record names in a directory: one
    that leaves it (`../x`, an absolute path) is refused, a UserError naming `field`,
    and so, unless `nested`, is one that is not a plain name in it."""
    path = Path(os.path.normpath(value))  # lexical: a symlink inside is the user's own
    plain = len(path.parts) == 1 or nested
    if path.is_absolute() or not path.parts or path.parts[0] == os.pardir or not plain:
        raise UserError(
            f"{field} {value!r}: give {'a path' if nested else 'the name of a folder'} "
            f"inside {directory}."
        )
    return path


# --------------------------------------------------------------------------------------
# Edits from the command line


def apply_find_replace(text: str, pairs: Sequence[str], path: Path) -> str:
    if len(pairs) % 2:
        raise UserError(f"--find-replace takes pairs FIND REPLACE; got {len(pairs)} values")
    for find, replacement in zip(pairs[::2], pairs[1::2], strict=True):
        if find not in text:
            raise UserError(f"--find-replace: {shown(find)} does not occur in {path}")
        text = text.replace(find, replacement)
    return text


def key_path(dotted: str, flag: str, schema: ModuleType) -> list[str]:
    keys = dotted.split(".")
    if not all(keys) or not schema.knows_key(keys):
        # The keys on a line of their own: with a long key shown, one line would not fit.
        raise UserError(
            f"{flag}: a config has no key {shown(dotted)}.\n"
            f"Top-level keys: {', '.join(schema.TOP_LEVEL_KEYS)}"
        )
    return keys


def apply_deletions(
    config: dict, dotted_keys: Sequence[str], path: Path, schema: ModuleType
) -> None:
    for dotted in dotted_keys:
        *parents, last = key_path(dotted, "--delete", schema)
        level = config
        for key in parents:
            level = level.get(key) if isinstance(level, dict) else None
        if isinstance(level, dict) and last in level:
            del level[last]
        else:
            warn(f"--delete: {dotted} is not set in {path}; nothing to delete")


def apply_modifications(config: dict, pairs: Sequence[str], schema: ModuleType) -> None:
    if len(pairs) % 2:
        raise UserError(f"--modify takes pairs KEY VALUE; got {len(pairs)} values")
    for dotted, text in zip(pairs[::2], pairs[1::2], strict=True):
        key_path(dotted, "--modify", schema)  # an unknown key before its value
        try:
            value = parse_config(text)
        except yaml.YAMLError as error:
            reason = getattr(error, "problem", None) or error
            raise UserError(
                f"--modify {dotted}: cannot read {shown(text)} as a YAML value: {reason}"
            ) from None
        set_key(config, dotted, value, "--modify", schema)


def set_key(config: dict, dotted: str, value: object, flag: str, schema: ModuleType) -> None:
    """Set the dotted key to `value` in `config`, making the mappings on its way; `flag`
    names where the key came from in a message about it."""
    *parents, last = key_path(dotted, flag, schema)
    level = config
    for key in parents:
        level = level.setdefault(key, {})
        if not isinstance(level, dict):
            raise UserError(f"{flag} {dotted}: {key} is not a mapping in the config")
    level[last] = value


# --------------------------------------------------------------------------------------
# Parsing and checks beyond the schema


def parse_yaml(text: str, path: Path) -> dict:
    try:
        config = parse_config(text)
    except YAMLRefused as error:
        raise UserError(f"{path} cannot be read as a config: {error}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML:\n{located(error, path)}") from None
    if not isinstance(config, dict):
        raise UserError(f"{path} must hold a mapping of config keys, not {type(config).__name__}")
    return config


def name_problems(config: dict, project: Project) -> list[str]:
    """Names that do not resolve, and parameters their constructors would not accept."""
    problems = []
    model_class = checked_name(config, "model_type", project.models, FishboticsModel, problems)
    if model_class:
        problems += argument_problems("model_parameters", model_class, config["model_parameters"])
    checked_name(config, "loss_function", project.losses, None, problems)
    sections = config["data_loader_parameters"]
    for phase in project.schema.DATA_LOADERS:
        dataset_class = checked_name(
            config, f"{phase}_data_loader_type", project.datasets, FishboticsDataset, problems
        )
        if dataset_class:
            given = {**sections.get("all", {}), **sections.get(phase, {})}
            problems += argument_problems(
                f"data_loader_parameters ({phase})",
                dataset_class,
                given,
                reserved=DATASET_ARGUMENTS,
                check_types=False,
            )
            for section in ("all", phase):
                problems += type_problems(
                    f"data_loader_parameters.{section}", dataset_class, sections.get(section, {})
                )
    return list(dict.fromkeys(problems))  # a problem in `all` is found once per phase


def checked_name(
    config: dict, key: str, module: ModuleType, base: type | None, problems: list[str]
) -> object:
    name = config[key]
    if name is None:
        return None
    valid = [
        candidate
        for candidate, value in vars(module).items()
        if is_offered(value, module, base) and not candidate.startswith("_")
    ]
    if name not in valid:
        problems.append(
            f"{key}: unknown name {shown(name)}; valid names in "
            f"{module.__name__.rsplit('.', 1)[-1]}.py: {', '.join(sorted(valid))}"
        )
        return None
    return getattr(module, name)


def is_offered(value: object, module: ModuleType, base: type | None) -> bool:
    if base is None:
        return inspect.isfunction(value) and value.__module__ == module.__name__
    return inspect.isclass(value) and issubclass(value, base) and value is not base


def argument_problems(
    key: str, target: type, given: dict, reserved: tuple = (), check_types: bool = True
) -> list[str]:
    signature = inspect.signature(target).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.values())
    parameters = {
        name: p for name, p in signature.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    accepted = [name for name in parameters if name not in reserved]
    problems = []
    for name in given:
        if name in reserved:
            problems.append(f"{key}: {shown(name)} is set by the trainer, not by the config")
        elif name not in parameters and not takes_any:
            problems.append(
                f"{key}: {target.__name__} has no parameter {shown(name)}; "
                f"it accepts: {', '.join(accepted) or 'none'}"
            )
    for name in accepted:
        if parameters[name].default is inspect.Parameter.empty and name not in given:
            problems.append(f"{key}: {target.__name__} needs a value for {name!r}")
    if check_types:
        problems += type_problems(key, target, given)
    return problems


# --------------------------------------------------------------------------------------
# Parameter types, read from the constructor's annotations


def type_problems(key: str, target: type, given: dict) -> list[str]:
    """Values in `given` that do not have the type `target`'s constructor annotates
    their parameter with: `hidden_size: int` refuses "64", 64.0 and true alike."""
    annotations = constructor_annotations(target)
    return [
        f"{key}.{name}: expected {type_name(annotations[name])}, got {shown(value)}"
        for name, value in given.items()
        if name in annotations and not conforms(value, annotations[name])
    ]


def constructor_annotations(target: type) -> dict[str, object]:
    try:
        return typing.get_type_hints(target.__init__)
    except (NameError, SyntaxError, TypeError):  # an annotation that cannot be evaluated
        return {}


def conforms(value: object, annotation: object) -> bool:
    """Whether a value read from YAML fits `annotation`. The plain types a config can
    hold are checked (bool, int, float, str, None, unions and lists or tuples of them);
    any other annotation is left to the constructor."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is None or annotation is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, argument) for argument in arguments)
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        return is_sequence_of(value, tuple if origin is tuple else list, arguments)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:  # bool is an int to Python, but `num_layers: true` is a mistake
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:  # an int will do where a float goes, as in Python
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True


def is_sequence_of(value: object, kind: type, arguments: tuple) -> bool:
    # YAML has lists only: a list is what a tuple parameter gets from a config.
    if not isinstance(value, list):
        return False
    if kind is tuple and arguments and arguments[-1] is not Ellipsis:
        return len(value) == len(arguments) and all(map(conforms, value, arguments))
    return not arguments or all(conforms(item, arguments[0]) for item in value)


def type_name(annotation: object) -> str:
    if annotation is None or annotation is type(None):
        return "null"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


# --------------------------------------------------------------------------------------
# Reporting


def problem_list(path: Path | str, problems: list[str]) -> str:
    lines = "\n".join(f"  - {shorten(problem)}" for problem in problems)
    return f"{path} has {len(problems)} problem(s):\n{lines}"


def shorten(problem: str) -> str:
    return problem if len(problem) <= PROBLEM_WIDTH else problem[: PROBLEM_WIDTH - 3] + "..."


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
