{% if cookiecutter.include_rollout_phase %}
"""The Trainer: the training, test and rollout loops of every epoch.
{% else %}
"""The Trainer: the training and test loops of every epoch.
{% endif %}

Each epoch runs
  1. train_loop    one pass over the training data, updating the model;
  2. test_loop     the same cheap loss on held-out data, without updates;
{% if cookiecutter.include_rollout_phase %}
  3. rollout_loop  the expensive rollout, on a fresh random subset of at most
                   `rollout_max_samples` held-out samples.
{% endif %}
A phase whose data loader the config leaves out is skipped. The best checkpoint
{% if cookiecutter.include_rollout_phase %}
is the one with the lowest rollout loss, else test loss, else training loss.
{% else %}
is the one with the lowest test loss, else training loss.
{% endif %}

This file is yours: change the loops as your task needs. The bookkeeping around them
(checkpoints and resuming, stop signals, loss sums, NaN checks) is TrainerBase's, in
toolkit/base_trainer.py: keep its calls where they are, between two steps. A stop signal
is honoured between two batches of any phase, and a run stopped in one continues it
where it stood.
"""

import torch
from torch.utils.data import DataLoader

from {{ cookiecutter.project_slug }}.toolkit.base_trainer import TrainerBase, to_device


class Trainer(TrainerBase):
    def fit(self) -> dict[str, dict[str, float]]:
        """Train for every epoch left; returns the last epoch's results by phase."""
        results = {}
        for epoch in range(self.first_epoch, self.epochs):
            results = self.epoch_results  # phases done before a resume, else none yet
            if "train" not in results:
                results["train"] = self.train_loop(epoch, self.resumed_position("train"))
                if self.scheduler is not None and not self.scheduler_per_step:
                    self.scheduler.step()
            if self.test_loader is not None and "test" not in results:
                results["test"] = self.test_loop(epoch, self.resumed_position("test"))
{% if cookiecutter.include_rollout_phase %}
            if self.rollout_loader is not None:
                results["rollout"] = self.rollout_loop(epoch, self.resumed_position("rollout"))
            best_by = ("rollout/loss" if "rollout" in results
                       else "test/loss" if "test" in results else "train/loss")
{% else %}
            best_by = "test/loss" if "test" in results else "train/loss"
{% endif %}
            self.end_epoch(epoch, results, best_by)
        self.finish()
        return results

    def train_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        """One pass over the training data, of which `resume_position` batches were
        done before the run was resumed."""
        self.network.train()
        self.start_training_pass(epoch, resume_position)
        progress = self.progress_bar(self.train_loader, f"epoch {epoch} train", resume_position)
        accumulation = self.gradient_accumulation_steps
        for position, batch in enumerate(progress, start=resume_position):
            done = position + 1
            # The optimizer steps once every `accumulation` batches, whose gradients add
            # up until then, and after the epoch's last batch.
            before_step = done % accumulation == 0 or done == len(self.train_loader)
            batch = self.model.transform(to_device(batch, self.device))
            # A job of several processes averages their gradients only before a step.
            with self.processes.gradient_sync(before_step):
                with self.autocast():
                    prediction = self.network(batch)
                    loss = self.loss_function(prediction, batch["supervision"])
                if accumulation == 1:
                    loss.backward()
                else:  # weighted by its share of the step's samples, the batches' gradients
                    # add up to the mean over all of them, as one big batch's would be
                    (loss * self.share_of_step(position, len(batch["supervision"]))).backward()
            self.add_step(loss, prediction, batch, before_step)  # summed on the device: no wait
            if not before_step:
                continue
            if self.gradient_clip_norm is not None:  # the norm stays on the device: no wait
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.scheduler_per_step:
                self.scheduler.step()
            self.step += 1

            if self.optimizer_steps_done(done) % self.log_interval == 0:
                mean = self.close_log_window(epoch)  # reads the sums; stops on NaN
                # Shown at the bar's next refresh: forcing one here costs a write per interval.
                progress.set_postfix(loss=f"{mean:.4g}", refresh=False)
                if self.run is not None:
                    self.run.log_scalars(self.step, {"train_step/loss": mean})
            self.checkpoint_or_stop(epoch, done)  # only between optimizer steps
        return self.training_results(epoch)

    def test_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        return self.evaluate(self.test_loader, epoch, "test", resume_position)
{% if cookiecutter.include_rollout_phase %}

    def rollout_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        return self.evaluate(self.rollout_loader, epoch, "rollout", resume_position)
{% endif %}

    @torch.no_grad()
    def evaluate(self, loader: DataLoader, epoch: int, phase: str,
                 resume_position: int = 0) -> dict[str, float]:
        """Sample-weighted means of the loss and the model's metrics over `loader`, of
        which `resume_position` batches were done before the run was resumed."""
        self.model.eval()
        self.start_held_out_pass(loader, phase, resume_position)
        progress = self.progress_bar(loader, f"epoch {epoch} {phase}", resume_position)
        for position, batch in enumerate(progress, start=resume_position):
            batch = self.model.transform(to_device(batch, self.device))
            with self.autocast():
{% if cookiecutter.include_rollout_phase %}
                if phase == "rollout":
                    prediction = self.model.rollout(batch)
                    metrics = self.model.rollout_metrics(prediction, batch)
                else:
                    prediction = self.model(batch)
                    metrics = self.model.metrics(prediction, batch)
{% else %}
                prediction = self.model(batch)
                metrics = self.model.metrics(prediction, batch)
{% endif %}
                values = {"loss": self.loss_function(prediction, batch["supervision"]),
                          **metrics}
            self.add_held_out(values, size=len(batch["supervision"]))
            self.stop_if_requested(epoch, phase, done=position + 1)
        return self.held_out_results()
