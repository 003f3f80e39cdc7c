"""What a run records of where it ran: the machine, the packages, the process."""

import os
import platform
import socket
from importlib import metadata as package_metadata

import torch


def environment() -> dict:
    """What the run ran on: versions, hardware, threads (thread count changes results)."""
    packages = {dist.metadata["Name"]: dist.version for dist in package_metadata.distributions()}
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a str subclass YAML cannot write
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "threads": torch.get_num_threads(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "packages": dict(sorted(packages.items(), key=lambda item: item[0].lower())),
    }


def this_process() -> dict:
    """The process that drives the training, recorded so that `run.py --list` can tell
{% if cookiecutter.multi_gpu %}
    a run whose process was killed from one still going: the one that creates (or
    resumes) the run directory, which is run.py itself when it spawns the training
    processes, and rank 0 under torchrun.
{% else %}
    a run whose process was killed from one still going.
{% endif %}
    """
    return {"host": socket.gethostname(), "pid": os.getpid()}
