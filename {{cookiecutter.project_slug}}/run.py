"""Start a training run from a config file; resume, re-run or evaluate a logged one.

    python run.py sample_runconfig.yaml                                   # a logged run
    python run.py sample_runconfig.yaml --mini --allow-dirty-repo --y     # a quick check
    python run.py --resume logs/<model_type>/<timestamp>                  # continue a run
    python run.py --rerun logs/<model_type>/<timestamp>                   # reproduce it
    python run.py --evaluate logs/<model_type>/<timestamp>                # test it again
    python run.py --list                                                  # the logged runs
    python run.py --compare RUN_DIRECTORY RUN_DIRECTORY                   # what they differ in
    python run.py sample_runconfig.yaml --modify epochs 5 --print-config  # what would run
    python run.py sample_runconfig.yaml --sweep sample_sweep.yaml         # a run per point
    python run.py --resume-sweep logs/sweeps/2024-05-01_12-00-00          # finish a sweep
    python run.py --list --sweep 2024-05-01_12-00-00                      # its points

A logged run needs a clean git tree. It writes logs/<model_type>/<timestamp>/ with
the config as it ran, the commit, TensorBoard logs and checkpoints. --help lists every
flag, those of the project's options (toolkit/options.py) too.
"""

import sys
from pathlib import Path

from {{ cookiecutter.project_slug }} import data_loader, losses, model, schema
from {{ cookiecutter.project_slug }}.toolkit.command_line import parse_args
from {{ cookiecutter.project_slug }}.toolkit.compare import comparison, listing, print_output
from {{ cookiecutter.project_slug }}.toolkit.errors import UserError
from {{ cookiecutter.project_slug }}.toolkit.job import config_to_print, read_metadata
from {{ cookiecutter.project_slug }}.toolkit.loading import LoadableProject
from {{ cookiecutter.project_slug }}.toolkit.options import project_options
from {{ cookiecutter.project_slug }}.toolkit.rerun import rerun
from {{ cookiecutter.project_slug }}.toolkit.run_here import run_here
from {{ cookiecutter.project_slug }}.toolkit.stopping import stop_with_parent
from {{ cookiecutter.project_slug }}.toolkit.sweep_report import show_sweep
from {{ cookiecutter.project_slug }}.toolkit.yaml_files import dump
from {{ cookiecutter.project_slug }}.train import Trainer

# Your files, handed to the toolkit: a config names the classes and functions in them.
PROJECT = LoadableProject(
    root=Path(__file__).resolve().parent,
    models=model,
    datasets=data_loader,
    losses=losses,
    schema=schema,
    trainer=Trainer,
)
# The optional features the project was made with, as toolkit/options.py lists them.
OPTIONS = project_options()


def main(argv: list[str] | None = None) -> int:
    stop_with_parent()  # a sweep's point stops with its sweep, rather than train on alone
    # Which flags go with which command: toolkit/command_line.py (COMMANDS).
    args = parse_args(argv, description=__doc__, options=OPTIONS)
    # The commands that read the logs, or hand the work elsewhere. A mistake found
    # before anything runs is a message: `error: ...` and exit code 2.
    try:
        if args.list and args.sweep:
            return show_sweep(
                args.sweep, PROJECT.logs, PROJECT.root, args.format, args.picture, OPTIONS
            )
        if args.list:
            print_output(listing(PROJECT.logs, PROJECT.root, args.format, args.columns, OPTIONS))
            return 0
        if args.compare:
            print_output(comparison(args.compare, PROJECT.root, args.format, OPTIONS))
            return 0
        exit_code = OPTIONS.run_command(args, PROJECT)  # one of an option's commands
        if exit_code is not None:
            return exit_code
        if args.print_config and not args.sweep:  # a sweep prints every point's config
            print_output(dump(config_to_print(args, PROJECT)).rstrip("\n"))
            return 0
        if args.rerun:
            run_path = Path(args.rerun).resolve()
            metadata = read_metadata(run_path)
            OPTIONS.check_rerun(run_path, metadata)
            return rerun(
                run_path,
                metadata,
                PROJECT.root,
                PROJECT.logs,
                args.allow_changed_data,
            )
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # A sweep, a run or an evaluation, in this process: toolkit/run_here.py.
    return run_here(args, PROJECT, OPTIONS)


if __name__ == "__main__":
    sys.exit(main())
