"""A Trainer that overrides the loop itself must keep the toolkit's calls: one that
leaves a call out is refused at the first epoch, the call named, with no traceback."""

import pytest
from harness import git, run_py

QUICK = ("sample_runconfig.yaml", "--mini", "--cpu", "--modify", "epochs", "2")

# A train_loop of one's own that forgets add_step: its losses would never be summed.
TRAIN_LOOP_WITHOUT_ADD_STEP = """
    def train_loop(self, epoch, resume_position=0):
        self.network.train()
        self.start_training_pass(epoch, resume_position)
        for position, batch in enumerate(self.train_loader, start=resume_position):
            loss, prediction = self.training_step(batch)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad()
            self.step += 1
            self.checkpoint_or_stop(epoch, position + 1)
        return self.training_results(epoch)
"""

# An evaluate of one's own that never checks for a stop request between batches.
EVALUATE_WITHOUT_STOP_CHECK = """
    def evaluate(self, phase, epoch=None, resume_position=0):
        loader = self.held_out_loaders[phase]
        self.model.eval()
        self.start_held_out_pass(loader, phase, resume_position)
        with torch.no_grad():
            for batch in loader:
                self.add_held_out(self.held_out_step(batch), len(batch["supervision"]))
        return self.held_out_results()
"""


def with_own_loop(project, method: str) -> None:
    """Add `method` to the project's Trainer, committed."""
    train = next((project / "src").glob("*/train.py"))
    source = train.read_text()
    marker = "class Trainer(TrainerBase):\n"
    assert marker in source
    train.write_text(source.replace(marker, marker + method.lstrip("\n") + "\n"))
    git(project, "commit", "--quiet", "--all", "-m", "A loop of my own")


@pytest.mark.machinery
@pytest.mark.parametrize(
    ("method", "message"),
    [
        (TRAIN_LOOP_WITHOUT_ADD_STEP, "train_loop never called add_step"),
        (EVALUATE_WITHOUT_STOP_CHECK, "evaluate never called stop_if_requested"),
    ],
)
def test_a_loop_of_ones_own_that_leaves_out_a_call_is_refused_with_the_call_named(
    project, method, message
):
    with_own_loop(project, method)
    result = run_py(project, *QUICK)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output, output[-2000:]
    assert "Traceback" not in output
    assert "epoch 1" not in result.stdout  # refused in the first epoch, before the second
