"""run.py's command line: its flags, and which of them go together.

A command line is one command: a run from a config file (the default), or the command
its flag picks (--resume, --list, --sweep ...). COMMANDS says which flags each command
takes. A flag given to a command that does not take it is refused before anything runs,
as argparse refuses an unknown flag: `error: ...` and exit code 2.
"""

import argparse

from {{ cookiecutter.project_slug }}.toolkit.compare import FORMATS
from {{ cookiecutter.project_slug }}.toolkit.plug_in import NO_OPTIONS, Command, Options

# A new run's flags: how it trains (--cpu, --mini) and the edits to its config file.
RUN_FLAGS = ("cpu", "mini", "find_replace", "delete", "modify")
# --y only answers --allow-dirty-repo's question, and scripts may add it to every command.
EVERY_COMMAND = ("y",)
LIST = "reads logged runs and does nothing else"
# A run's flags, which --list and --compare take and ignore, as they always have: a
# command line edited from a run's still works.
IGNORED_BY_READERS = (*RUN_FLAGS, "no_logging", "allow_dirty_repo", "allow_changed_data")

# The first command whose flags are all given is the command line's (the options'
# commands are tried first).
COMMANDS = [
    Command(
        ("resume_sweep",),
        ("jobs",),
        "--resume-sweep uses the config and flags the sweep started with",
        defaults={"jobs": 1},
    ),
    Command(
        ("list", "sweep"),
        ("format", "picture", *IGNORED_BY_READERS),
        f"--list {LIST}",
        defaults={"format": "table"},
    ),
    # A sweep is logged runs, each checked and recorded as a single run is.
    Command(
        ("sweep",),
        ("config", *RUN_FLAGS, "print_config", "jobs"),
        "--sweep starts logged runs from a config file",
        needs_config="--sweep needs the config its points start from: "
        "python run.py CONFIG --sweep SWEEP_FILE",
    ),
    Command(
        ("list",),
        ("columns", "format", *IGNORED_BY_READERS),
        f"--list {LIST}",
        defaults={"format": "table"},
    ),
    Command(
        ("compare",),
        ("format", *IGNORED_BY_READERS),
        f"--compare {LIST}",
        defaults={"format": "table"},
    ),
    Command(
        ("resume",),
        ("allow_changed_data", "print_config"),
        "--resume uses the config and flags the run started with",
    ),
    Command(
        ("rerun",),
        ("allow_changed_data", "print_config"),
        "--rerun uses the config and flags the run started with",
    ),
    Command(
        ("evaluate",),
        ("checkpoint", "split", "allow_changed_data", "cpu", "mini", "delete", "modify"),
        "--evaluate uses the run's config (edited by --modify and --delete) and records "
        "its results",
        defaults={"checkpoint": "best", "split": "test"},
    ),
    # The default; --sweep-point is given by a sweep to each point's run.py.
    Command(
        (),
        ("config", *RUN_FLAGS, "no_logging", "allow_dirty_repo", "print_config", "sweep_point"),
        "python run.py CONFIG starts a run",
        needs_config="give a config file, --resume, --rerun or --evaluate RUN_DIRECTORY, "
        "--resume-sweep SWEEP_DIRECTORY, --list or --compare",
    ),
]

# Flags that only some commands take, and what to say when one comes with another.
GOES_WITH = {
    "jobs": "--jobs goes with --sweep or --resume-sweep: how many of a sweep's points run at once",
    "format": "--format goes with --list or --compare",
    "allow_changed_data": "--allow-changed-data goes with --resume, --rerun or --evaluate: "
    "a new run records the data as they are",
    "columns": "--columns goes with --list, the table of runs (python run.py --list --columns "
    "test/accuracy,test/loss); --format csv|json holds every final-test number",
    "checkpoint": "--checkpoint and --split go with --evaluate RUN_DIRECTORY",
    "split": "--checkpoint and --split go with --evaluate RUN_DIRECTORY",
    "picture": "--picture goes with --list --sweep ID",
}


def parse_args(
    argv: list[str] | None, description: str = "", options: Options = NO_OPTIONS
) -> argparse.Namespace:
    """The command line, checked against the `options`' commands and COMMANDS;
    `description` heads --help."""
    parser = argument_parser(description)
    options.add_flags(parser)
    args = parser.parse_args(argv)
    check_command(args, parser, options)
    return args


def check_command(
    args: argparse.Namespace, parser: argparse.ArgumentParser, options: Options
) -> None:
    """Refuse a flag the command does not take, or a missing config file, as argparse
    refuses a mistake (parser.error); then fill in the defaults of the command's flags."""
    given = [flag for flag, value in vars(args).items() if value]
    command = next(
        command
        for command in (*options.commands, *COMMANDS)
        if set(command.picked_by) <= set(given)
    )
    refused = [
        flag for flag in given if flag not in (*command.picked_by, *command.takes, *EVERY_COMMAND)
    ]
    for flag, message in {**options.goes_with, **GOES_WITH}.items():  # say which take it
        if flag in refused:
            parser.error(message)
    if refused:
        parser.error(f"{command.refusal}; leave out: {', '.join(refused)}")
    if command.needs_config and not args.config:
        parser.error(command.needs_config)
    for flag, value in command.defaults.items():
        setattr(args, flag, getattr(args, flag) or value)
    if args.columns and args.format != "table":  # csv and json hold every number
        parser.error(GOES_WITH["columns"])


def job_count(text: str) -> int:
    """--jobs: a whole number of points at once, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the number of points to run at once, a whole number from 1 (--jobs 2)"
        )
    return int(text)


def column_names(text: str) -> list[str]:
    """--columns: final-test numbers, comma-separated (test/accuracy,test/loss)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the final test's numbers to show, "
            "comma-separated (--columns test/accuracy,test/loss)"
        )
    return names


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", nargs="?", help="the run config (YAML)")
    add_new_run_flags(parser)
    add_logged_run_flags(parser)
    add_sweep_flags(parser)
    add_reader_flags(parser)
    return parser


def add_new_run_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a new run, from a config file (each point of a sweep too)")
    group.add_argument(
        "--cpu", action="store_true", help="train on the CPU even when a GPU is available"
    )
    group.add_argument(
        "--mini",
        action="store_true",
        help="use mini datasets (mini_size elements, default 100) to check the pipeline quickly",
    )
    group.add_argument(
        "--find-replace",
        nargs="+",
        action="extend",
        default=[],
        metavar="TEXT",
        help="pairs FIND REPLACE: replace text in the config file "
        "before it is read (use with care)",
    )
    group.add_argument(
        "--delete",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY",
        help="config keys to remove; dotted for nested keys (model_parameters.hidden_size)",
    )
    group.add_argument(
        "--modify",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY_OR_VALUE",
        help="pairs KEY VALUE: set a config key (dotted for nested keys) "
        "to a YAML value, e.g. --modify epochs 5; repeatable",
    )
    group.add_argument(
        "--no-logging",
        action="store_true",
        help="save nothing: no run directory, TensorBoard or checkpoints",
    )
    group.add_argument(
        "--allow-dirty-repo",
        action="store_true",
        help="run from uncommitted code; asks first, and logs nothing",
    )
    group.add_argument(
        "--y", action="store_true", help="answer yes to the --allow-dirty-repo question"
    )
    group.add_argument(
        "--print-config",
        action="store_true",
        help="print the config as it would run (defaults filled in, after "
        "every edit flag) as YAML and exit; with --resume or --rerun, "
        "the config the run recorded; with --sweep, every point's",
    )


def add_logged_run_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a logged run: resume, re-run or evaluate it")
    group.add_argument(
        "--resume",
        metavar="RUN_DIRECTORY",
        help="continue a logged run from its newest checkpoint, in its own "
        "directory, with its own config and flags",
    )
    group.add_argument(
        "--rerun",
        metavar="RUN_DIRECTORY",
        help="run a logged experiment again at its recorded commit (in a "
        "temporary git worktree) and compare the results",
    )
    group.add_argument(
        "--evaluate",
        metavar="RUN_DIRECTORY",
        help="run the held-out phases with a logged run's checkpoint, at the "
        "run's commit, and record the results in its evaluations/",
    )
    group.add_argument(
        "--checkpoint",
        metavar="best|last|PATH",
        help="with --evaluate: the checkpoint to evaluate (default: best, "
        "the selected epoch's; a relative PATH is in the run directory)",
    )
    group.add_argument(
        "--split",
        metavar="FOLDER",
        help="with --evaluate: the data folder to evaluate on (default: test)",
    )
    group.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="with --resume, --rerun or --evaluate: go on although the data "
        "differ from the fingerprint the run recorded (the record says so)",
    )


def add_sweep_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sweeps: a logged run per point")
    group.add_argument(
        "--sweep",
        metavar="SWEEP_FILE",
        help="one logged run per point of the sweep file (a grid, variants, "
        "seeds, or an Optuna search's trials), one after another or --jobs "
        "N at once; the edit flags, --cpu and --mini apply to every point. "
        "Recorded in logs/sweeps/<id>/. With --list: a sweep's id (or "
        "directory), whose points to show, with mean ± std over seeds",
    )
    group.add_argument(
        "--resume-sweep",
        metavar="SWEEP_DIRECTORY",
        help="continue a sweep (logs/sweeps/<id>): run its pending points and "
        "resume its interrupted ones",
    )
    group.add_argument(
        "--jobs",
        type=job_count,
        metavar="N",
        help="with --sweep or --resume-sweep: run up to N points at once "
        "(default 1), each with 1/N of the CPU threads and of the GPUs",
    )
    # Given by a sweep to each point's run.py: the sweep's directory and the point's number.
    group.add_argument(
        "--sweep-point", nargs=2, metavar=("SWEEP_DIRECTORY", "POINT"), help=argparse.SUPPRESS
    )


def add_reader_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "reading the logs: the runs, a sweep's points, runs side by side"
    )
    group.add_argument(
        "--list",
        action="store_true",
        help="print a table of the runs in logs/, newest first, and exit; "
        "with --sweep ID, the points of that sweep",
    )
    group.add_argument(
        "--columns",
        type=column_names,
        metavar="TAG,TAG",
        help="with --list: a column for each of these final-test numbers "
        "(test/accuracy,test/loss); --format csv|json holds them all",
    )
    group.add_argument(
        "--picture",
        action="store_true",
        help="with --list --sweep ID: draw the sweep's picture "
        "(logs/sweeps/<id>/sweep.png) again first",
    )
    group.add_argument(
        "--compare",
        nargs="+",
        metavar="RUN_DIRECTORY",
        help="print two or more logged runs side by side (the config keys "
        "that differ, then the results) and exit",
    )
    group.add_argument(
        "--format",
        choices=FORMATS,
        help="with --list or --compare: a table (the default), or every "
        "field as CSV or JSON, for a spreadsheet or pandas",
    )
