"""The launcher's training monitor (rave/trainwatch.py) on small real torch models and a real
Lightning fit with manual optimization like RAVE's (a generator and a discriminator stepping
in turn): gradient norms at the logging steps, exact zeros counted by the forward hooks, and
SIGUSR1 saving a checkpoint at the next batch. The real `rave train` is in tests/e2e."""

from __future__ import annotations

import math
import os
import signal
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("pytorch_lightning")

from rave_gui.backend.rave import trainwatch as tw  # noqa: E402


def test_grad_norm_is_the_norm_of_all_gradients() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(net.parameters(), 0.1)
    assert tw.grad_norm(opt) is None  # no backward yet
    net(torch.randn(4, 8)).pow(2).sum().backward()
    expected = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in net.parameters()))
    assert tw.grad_norm(opt) == pytest.approx(expected, rel=1e-5)


def test_dead_unit_probe_counts_exact_zeros_per_activation_layer() -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4), torch.nn.LeakyReLU(0.2)
    )
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([-1.0, -1.0, -1.0, 1.0]))  # 3 of 4 ReLU units dead
    probe = tw.DeadUnitProbe()
    probe.attach(net)
    net(torch.randn(5, 4))
    net(torch.randn(3, 4))  # a layer called twice in a step: both calls count
    fractions = probe.collect()
    assert fractions["1"] == pytest.approx(0.75)
    assert fractions["3"] < 0.5
    net(torch.randn(5, 4))  # hooks removed by collect: nothing more is counted
    assert probe.collect() == {}


class TwoOptimizers(pl.LightningModule):
    """A tiny GAN-like module optimized manually as RAVE does (phase 2: the discriminator on
    even batches, the generator on odd ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.encoder = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU())
        self.discriminator = torch.nn.Sequential(torch.nn.Linear(8, 1), torch.nn.LeakyReLU())

    def configure_optimizers(self):
        gen = torch.optim.Adam(self.encoder.parameters(), 1e-3)
        dis = torch.optim.Adam(self.discriminator.parameters(), 1e-4)
        return gen, dis

    def training_step(self, batch, batch_idx):
        gen_opt, dis_opt = self.optimizers()
        y = self.encoder(batch)
        if batch_idx % 2 == 0:
            dis_opt.zero_grad()
            self.discriminator(y.detach()).mean().backward()
            dis_opt.step()
        else:
            gen_opt.zero_grad()
            (self.discriminator(y).mean() + y.pow(2).mean()).backward()
            gen_opt.step()
        self.log("loss", y.pow(2).mean())


class Recorder(pl.loggers.logger.Logger):
    def __init__(self) -> None:
        super().__init__()
        self.points: list[tuple[str, int, float]] = []

    name = "recorder"
    version = 0

    def log_metrics(self, metrics, step=None) -> None:
        self.points += [(k, int(step), float(v)) for k, v in metrics.items()]

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


def _fit(tmp_path: Path, steps: int, every: int, on_batch=None) -> Recorder:
    logger = Recorder()
    ckpts = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "checkpoints"))
    callbacks = [ckpts, tw.make_monitor_callback(pl)()]
    if on_batch is not None:

        class Hook(pl.Callback):
            def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
                on_batch(batch_idx)

        callbacks.insert(0, Hook())
    data = torch.utils.data.DataLoader(torch.randn(4 * steps, 8), batch_size=4)
    with warnings.catch_warnings():  # Lightning's advice (SLURM, workers, ...)
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(
            max_steps=steps, accelerator="cpu", logger=logger, log_every_n_steps=every,
            enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
            default_root_dir=str(tmp_path),
        )  # fmt: skip
        trainer.fit(TwoOptimizers(), train_dataloaders=data)
    return logger


def _steps(logger: Recorder, tag: str) -> list[int]:
    return [s for k, s, _v in logger.points if k == tag]


def test_norms_and_dead_units_at_the_logging_steps(tmp_path: Path) -> None:
    logger = _fit(tmp_path, steps=12, every=5)
    # logging steps: the first batch (0), 4, 9 and the last (11); the generator steps on odd
    # batches, the discriminator on even ones: each norm at the logging step or the next
    assert _steps(logger, "dead_units_max_fraction") == [0, 4, 9, 11]
    assert _steps(logger, "grad_norm_discriminator") == [0, 4, 10]
    assert _steps(logger, "grad_norm_generator") == [1, 5, 9, 11]
    values = [v for k, _s, v in logger.points if k.startswith("grad_norm")]
    assert all(math.isfinite(v) and v > 0 for v in values)
    layers = [v for k, _s, v in logger.points if k == "dead_units_layers"]
    assert all(v in (0.0, 1.0) for v in layers)  # the ReLU may die; the LeakyReLU cannot


def test_the_monitor_can_be_switched_off(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(tw.MONITOR_ENV, "0")
    assert not tw.monitor_enabled()
    monkeypatch.delenv(tw.MONITOR_ENV)
    assert tw.monitor_enabled()


def test_sigusr1_saves_a_checkpoint_at_the_next_batch(tmp_path: Path, capsys) -> None:
    previous = signal.getsignal(signal.SIGUSR1)
    assert tw.install_save_signal()
    try:

        def ask(batch_idx: int) -> None:
            if batch_idx == 2:
                os.kill(os.getpid(), signal.SIGUSR1)

        _fit(tmp_path, steps=6, every=50, on_batch=ask)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    saved = list((tmp_path / "checkpoints").glob("manual-*.ckpt"))
    assert [p.name for p in saved] == ["manual-epoch=0000-step=2.ckpt"]
    assert not list(tmp_path.rglob("*.part"))
    assert torch.load(saved[0], map_location="cpu", weights_only=False)["global_step"] > 0
    assert f"rave-gui: checkpoint saved {saved[0]} step=2" in capsys.readouterr().out
