"""How an optional feature plugs into run.py's commands: the `Option` it declares.

The core calls the options the project was made with (options.py lists them) at a few
points: the command line, preparing a job, resuming a sweep, re-running a run, training,
and what --list shows of a run. Every field's default is what a project without the
feature does, so the core never names an option.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.job import NO_HOOKS, Job, JobHooks
from {{ cookiecutter.project_slug }}.toolkit.job_training import OneProcess
from {{ cookiecutter.project_slug }}.toolkit.project import Project


@dataclass(frozen=True)
class Command:
    """What run.py does for a command line: the flags that pick the command (all of them
    given), the other flags it takes, and what it says when given one it does not take."""

    picked_by: tuple[str, ...]
    takes: tuple[str, ...]
    refusal: str
    needs_config: str | None = None  # the error when no config file is given
    defaults: dict = field(default_factory=dict)  # of the flags it takes, when not given


def no_flags(parser: argparse.ArgumentParser) -> None:
    pass


def not_its_command(args: argparse.Namespace, project: Project) -> None:
    return None


def not_started_elsewhere(args: argparse.Namespace, project: Project, hooks: JobHooks) -> None:
    return None


def not_trained_elsewhere(job: Job, project: Project) -> None:
    return None


def no_sweep_to_take_over(directory: Path, record: dict, project_root: Path) -> None:
    pass


def any_run_reruns(run_path: Path, metadata: dict) -> None:
    pass


def nothing_more(metadata: dict) -> None:
    return None


@dataclass(frozen=True)
class Option:
    """An optional feature, as the command layer calls it."""

    # run.py's command lines: the option's commands (tried before the core's), a parser
    # hook that adds their flags, and what to say when one of those flags comes with a
    # command that does not take it.
    commands: tuple[Command, ...] = ()
    add_flags: Callable[[argparse.ArgumentParser], None] = no_flags
    goes_with: dict[str, str] = field(default_factory=dict)
    # Runs the command line if it is one of the option's: run.py's exit code, else None.
    # Called before run.py's own commands run.
    run_command: Callable[[argparse.Namespace, Project], int | None] = not_its_command
    # Runs run_here.py's work, with the options' job hooks, in a process that another
    # launcher started: the exit code, else None.
    run_here: Callable[[argparse.Namespace, Project, JobHooks], int | None] = not_started_elsewhere
    # What it adds to preparing a job (job.py).
    job_hooks: JobHooks = NO_HOOKS
    # Trains a prepared job on processes of its own: the exit code, else None.
    train_elsewhere: Callable[[Job, Project], int | None] = not_trained_elsewhere
    # This process's part in a job that it trains alone (None: OneProcess).
    process: Callable[[], OneProcess] | None = None
    # As --resume-sweep reopens a sweep, with its record: may note that it resumes here.
    take_sweep_over: Callable[[Path, dict, Path], None] = no_sweep_to_take_over
    # As --rerun replays a run, with its record: may refuse it (a UserError).
    check_rerun: Callable[[Path, dict], None] = any_run_reruns
    # What --list shows of a run, from its record, where the option knows more than the
    # status it records (None: nothing more): its status now, a detail in parentheses
    # after it, and a note under the table for each status it adds.
    status_now: Callable[[dict], str | None] = nothing_more
    status_detail: Callable[[dict], str | None] = nothing_more
    status_notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """The options a project was made with, each called in turn."""

    chosen: tuple[Option, ...] = ()

    @property
    def commands(self) -> list[Command]:
        return [command for option in self.chosen for command in option.commands]

    @property
    def goes_with(self) -> dict[str, str]:
        return {flag: text for option in self.chosen for flag, text in option.goes_with.items()}

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        for option in self.chosen:
            option.add_flags(parser)

    def run_command(self, args: argparse.Namespace, project: Project) -> int | None:
        return first_answer(option.run_command(args, project) for option in self.chosen)

    def run_here(self, args: argparse.Namespace, project: Project) -> int | None:
        hooks = self.job_hooks()
        return first_answer(option.run_here(args, project, hooks) for option in self.chosen)

    def train_elsewhere(self, job: Job, project: Project) -> int | None:
        return first_answer(option.train_elsewhere(job, project) for option in self.chosen)

    def process(self) -> OneProcess:
        made = [option.process for option in self.chosen if option.process is not None]
        return made[0]() if made else OneProcess()

    def job_hooks(self) -> JobHooks:
        hooks = [option.job_hooks for option in self.chosen]

        def launch_record(config: dict, cpu: bool) -> dict:
            return {
                key: value for one in hooks for key, value in one.launch_record(config, cpu).items()
            }

        def take_over(metadata: dict, run_path: Path) -> None:
            for one in hooks:
                one.take_over(metadata, run_path)

        def check_resumed(metadata: dict, config: dict, cpu: bool) -> None:
            for one in hooks:
                one.check_resumed(metadata, config, cpu)

        def mirrors(project_root: Path) -> list:
            return [mirror for one in hooks for mirror in one.mirrors(project_root)]

        return JobHooks(launch_record, take_over, check_resumed, mirrors)

    def take_sweep_over(self, directory: Path, record: dict, project_root: Path) -> None:
        for option in self.chosen:
            option.take_sweep_over(directory, record, project_root)

    def check_rerun(self, run_path: Path, metadata: dict) -> None:
        for option in self.chosen:
            option.check_rerun(run_path, metadata)

    def status_now(self, metadata: dict, recorded: str) -> str:
        now = first_answer(option.status_now(metadata) for option in self.chosen)
        return recorded if now is None else now

    def status_detail(self, metadata: dict) -> str | None:
        """Every option's detail, in the order of the options."""
        details = [option.status_detail(metadata) for option in self.chosen]
        return ", ".join(detail for detail in details if detail) or None

    @property
    def status_notes(self) -> dict[str, str]:
        return {
            status: note for option in self.chosen for status, note in option.status_notes.items()
        }


NO_OPTIONS = Options()  # a project made without any


def first_answer(answers):
    """The first answer that is not None: that of the option the question was for."""
    return next((answer for answer in answers if answer is not None), None)
