"""The Trainer: the training{{ ', validation and rollout' if cookiecutter.include_rollout_phase else ' and validation' }} loops, and the final test.

Each epoch runs
  1. train_loop    one pass over the training data, updating the model;
  2. val_loop      the same cheap loss on the validation split, without updates;
{% if cookiecutter.include_rollout_phase %}
  3. rollout_loop  the expensive rollout, on a fresh random subset of at most
                   `rollout_max_samples` samples of the validation split.
{% endif %}
A phase whose data loader the config leaves out is skipped. The config's `selection`
picks the best epoch by one of their numbers (val/loss, lowest, unless it says
otherwise), and may stop training early. Then `final_test` reads the test split once,
with the best epoch's weights: its results are the ones to report.

This file is yours: change the loops as your task needs. The bookkeeping around them
(checkpoints and resuming, stop signals, loss sums, NaN checks, selection) is
TrainerBase's, in toolkit/base_trainer.py: keep its calls where they are, between two
steps. A stop signal is honoured between two batches of any phase, and a run stopped
in one continues it where it stood.
"""

import torch

from {{ cookiecutter.project_slug }}.toolkit.base_trainer import TrainerBase, to_device


class Trainer(TrainerBase):
    def fit(self) -> dict[str, dict[str, float]]:
        """Train for every epoch left, then test; returns the final test's results."""
        for epoch in self.remaining_epochs():  # until the selection's patience runs out
            results = self.epoch_results  # phases done before a resume, else none yet
            if "train" not in results:
                results["train"] = self.train_loop(epoch, self.resumed_position("train"))
                if self.scheduler is not None and not self.scheduler_per_step:
                    self.scheduler.step()
            if "val" in self.held_out_loaders and "val" not in results:
                results["val"] = self.val_loop(epoch, self.resumed_position("val"))
{% if cookiecutter.include_rollout_phase %}
            if "val_rollout" in self.held_out_loaders:
                results["val_rollout"] = self.rollout_loop(
                    epoch, self.resumed_position("val_rollout"))
{% endif %}
            self.end_epoch(epoch, results)
        self.finish()
        return self.final_test()

    def train_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        """One pass over the training data, of which `resume_position` batches were
        done before the run was resumed."""
        self.network.train()
        self.start_training_pass(epoch, resume_position)
        progress = self.progress_bar(self.train_loader, epoch, "train", resume_position)
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

    def val_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        return self.evaluate("val", epoch, resume_position)
{% if cookiecutter.include_rollout_phase %}

    def rollout_loop(self, epoch: int, resume_position: int = 0) -> dict[str, float]:
        return self.evaluate("val_rollout", epoch, resume_position)
{% endif %}

    def final_test(self) -> dict[str, dict[str, float]]:
        """The test split, read once, with the weights of the epoch the selection chose."""
        self.load_selected_weights()
{% if cookiecutter.include_rollout_phase %}
        results = {phase: self.evaluate(phase) for phase in ("test", "test_rollout")
                   if phase in self.held_out_loaders}
{% else %}
        results = {"test": self.evaluate("test")} if "test" in self.held_out_loaders else {}
{% endif %}
        self.record_final_test(results)
        return results

    @torch.no_grad()
    def evaluate(self, phase: str, epoch: int | None = None,
                 resume_position: int = 0) -> dict[str, float]:
        """Sample-weighted means of the loss and the model's metrics over the held-out
        phase's data, of which `resume_position` batches were done before the run was
        resumed. `epoch` is None outside training (the final test, run.py --evaluate)."""
        loader = self.held_out_loaders[phase]
        self.model.eval()
        self.start_held_out_pass(loader, phase, resume_position)
        progress = self.progress_bar(loader, epoch, phase, resume_position)
        for position, batch in enumerate(progress, start=resume_position):
            batch = self.model.transform(to_device(batch, self.device))
            with self.autocast():
{% if cookiecutter.include_rollout_phase %}
                if phase.endswith("_rollout"):
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
