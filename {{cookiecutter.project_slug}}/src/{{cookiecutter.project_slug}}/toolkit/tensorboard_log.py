"""The run's TensorBoard log: the scalars of every phase, and the config for TensorBoard's
HParams view, in the run directory's events.out.tfevents.* files."""

import time
from collections.abc import Callable
from pathlib import Path

from {{ cookiecutter.project_slug }}.toolkit.hparams import hparams_summary

# TensorBoard's writer wakes a background thread for every point it is given, and that
# thread's turns at the GIL cost the training loop ~0.5 ms per point; handed over in
# batches, points cost a fraction of that. TensorBoard sees points only once the writer
# flushes (every two minutes) anyway.
SCALARS_BATCH_SECONDS = 10.0


class TensorBoardLog:
    """Points for TensorBoard, held back and handed over in batches, each stamped with
    when it was logged."""

    def __init__(
        self,
        path: Path,
        config: dict,
        purge_step: int | None = None,
        handed_over: Callable[[list], None] | None = None,
    ):
        self.path = path
        self.config = config
        # After a resume, purge_step hides what the interrupted run logged after its
        # checkpoint, so every step appears once.
        self.purge_step = purge_step
        self._writer = None
        self._points: list[tuple[int, dict[str, float], float]] = []  # (step, scalars, time)
        self._handed_over = time.monotonic()
        # Given each batch as TensorBoard is: the run's mirrors (mirrors.py) see it too.
        self.handed_over = handed_over

    def log(self, step: int, scalars: dict[str, float]) -> None:
        self._points.append((step, scalars, time.time()))
        if time.monotonic() - self._handed_over >= SCALARS_BATCH_SECONDS:
            self.write()

    def write(self) -> None:
        """Hand the points logged so far to TensorBoard."""
        if self._writer is None:
            # Importing TensorBoard takes seconds: only runs that log pay for it.
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(self.path, purge_step=self.purge_step)
            # Written by every writer of the run: once resumed, TensorBoard keeps one.
            self._writer.file_writer.add_summary(hparams_summary(self.config))
        for step, scalars, walltime in self._points:
            for tag, value in scalars.items():
                self._writer.add_scalar(tag, value, step, walltime=walltime)
        if self.handed_over is not None:
            self.handed_over(self._points)
        self._points = []
        self._handed_over = time.monotonic()

    def flush(self) -> None:
        """Every point logged so far, on disk."""
        if self._points:
            self.write()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._points:
            self.write()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
