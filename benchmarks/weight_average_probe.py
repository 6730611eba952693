"""Does averaging the fine-tuned weights help? A probe, not a feature (not a test).

Runs ``pretrain_benchmark.py downstream`` (same arguments) with two kinds of weight
average kept beside each fine-tuning run and scored on the evaluation set at every epoch
end, next to the raw weights, in the same run (paired: same data order, same dropout):

* ``ema<d>_<metric>``: an exponential moving average of the trainable weights, updated
  every ``EVERY`` optimizer steps with decay ``d ** EVERY`` (Polyak averaging as in
  timm's ModelEma; 0.998 spans ~1 CoLA epoch at batch 16, 0.999 ~2);
* ``swa_<metric>``: the uniform average of the epoch-end weights from the second half of
  the epochs on (stochastic weight averaging's tail average).

The averages are float32 side copies updated under ``no_grad``; they draw no random
numbers, so the raw run's losses and metrics are those of the plain benchmark. The probe
patches three methods of :class:`ftpipe.training.Trainer`, which is why it is a benchmark
and not a param: the numbers (README, "CoLA and continued RTD pretraining") did not earn one.

    python benchmarks/weight_average_probe.py downstream --tasks cola --epochs 10 --lr 1e-4 \\
        --models mixed_s3=models/bench/minilm_mixed_s3/final/discriminator --seeds 42,1,2 --out F
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import pretrain_benchmark  # noqa: E402  (imports ftpipe before torch: huge pages)
from ftpipe import training  # noqa: E402

import torch  # noqa: E402

EVERY = 4
DECAYS = (0.998, 0.999)
Trainer = training.Trainer
_init, _train_step, _end_epoch = Trainer.__init__, Trainer._train_step, Trainer.end_epoch


def _trainable(trainer) -> list[torch.Tensor]:
    return [p for p in trainer.accelerator.unwrap_model(trainer.model).parameters() if p.requires_grad]


def _snapshot(trainer) -> list[torch.Tensor]:
    return [p.detach().float().clone() for p in _trainable(trainer)]


def init(self, *args, **kwargs) -> None:
    _init(self, *args, **kwargs)
    self.ema = {d: _snapshot(self) for d in DECAYS}
    self.swa, self.swa_n = None, 0


def train_step(self, batch: dict) -> bool:
    synced = _train_step(self, batch)
    if synced and (self.step + 1) % EVERY == 0:  # the loop counts this step after we return
        with torch.no_grad():
            current = [p.detach().float() for p in _trainable(self)]
            for d, ema in self.ema.items():
                torch._foreach_lerp_(ema, current, 1 - d ** EVERY)
    return synced


def evaluate_with(self, weights: list[torch.Tensor]) -> dict:
    """The evaluation with ``weights`` swapped in, the training weights put back after."""
    params = _trainable(self)
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, w in zip(params, weights):
            p.copy_(w.to(p.dtype))
    try:
        return self._evaluate()
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def end_epoch(self, epoch: int) -> None:
    _end_epoch(self, epoch)
    row = self.log.epochs[-1]  # the row just logged: the averages' scores join it
    for d, ema in self.ema.items():
        row.update({f"ema{d}_{k}": v for k, v in evaluate_with(self, ema).items()})
    if epoch + 1 > self.cfg.epochs // 2:
        current = _snapshot(self)
        if self.swa is None:
            self.swa, self.swa_n = current, 1
        else:
            self.swa_n += 1
            torch._foreach_lerp_(self.swa, current, 1.0 / self.swa_n)
        row.update({f"swa_{k}": v for k, v in evaluate_with(self, self.swa).items()})
    metric = self.evaluation.metric
    print(f"[probe] epoch {epoch + 1}: " + ", ".join(
        f"{k}={v:.4f}" for k, v in row.items() if k.endswith(f"_{metric}")), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] != ["downstream"]:
        sys.exit("weight_average_probe.py: only `downstream` (fine-tuning) runs take the probe")
    Trainer.__init__, Trainer._train_step, Trainer.end_epoch = init, train_step, end_epoch
    pretrain_benchmark.main()
