"""Run configuration and the two presets.

``quick`` is small enough for CI and a first look (minutes on a 2-core CPU); it is NOT the paper's
protocol. ``paper`` is the paper's protocol: 10 x shuffled stratified 10-fold CV, 5 layers,
dropout 0.5, learning rate 1e-5, training until validation loss stops improving (patience) within a
maximum epoch count. Every field can be overridden on the command line; the resolved config is saved
with the run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = ["RunConfig", "PRESETS", "preset"]


@dataclass(frozen=True)
class RunConfig:
    preset: str = "quick"
    units: tuple[str, ...] = ("rnn", "lstm", "gru", "indrnn")
    baseline: bool = True  # also rerun the scattering + logistic-regression reference on the same folds
    protocol: str = "cv"  # "cv" (the paper's), "filtered" (artist-filtered GTZAN) or "file" (--split-file)
    split_file: str | None = None  # the user's split file (protocol "file")
    folds: int = 10
    repeats: int = 10
    seed: int = 0
    val_fraction: float = 0.1  # of the training folds, for curves and early stopping
    # training
    epochs: int = 30
    patience: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip_grad: float = 1.0  # max gradient norm; 0 = no clipping
    warmup_iters: int = 5
    # model (the same for every unit)
    hidden: int = 128
    layers: int = 5
    dropout: float = 0.5
    batch_norm: bool = True  # IndRNN only: BatchNorm1d after each layer, as Li et al. always use it
    # data and features
    dataset: str = "synthetic"
    data_dir: str | None = None
    seconds: float = 30.0
    min_seconds: float = 1.0  # clips with less real audio are skipped
    clips_per_genre: int = 10  # synthetic corpus only
    corpus_seed: int = 0
    J: int = 10
    Q: int = 8
    # machine
    device: str = "cpu"
    threads: int | None = None  # torch intra-op threads; None = torch's default

    def to_dict(self) -> dict:
        d = asdict(self)
        d["units"] = list(self.units)
        return d

    def model_options(self) -> dict:
        return dict(hidden=self.hidden, layers=self.layers, dropout=self.dropout, batch_norm=self.batch_norm)


PRESETS: dict[str, RunConfig] = {
    # Synthetic corpus of 40 x 10 s clips per genre (157 frames), 3 layers of 64, 5-fold CV once, lr 2e-3.
    "quick": RunConfig(preset="quick", folds=5, repeats=1, epochs=25, patience=8, batch_size=16, lr=2e-3,
                       hidden=64, layers=3, dropout=0.2, seconds=10.0, clips_per_genre=40),
    # The paper: 10 x 10-fold, 5 layers, dropout 0.5, lr 1e-5, Adam; until convergence (patience 30).
    "paper": RunConfig(preset="paper", folds=10, repeats=10, epochs=500, patience=30, batch_size=32, lr=1e-5,
                       hidden=128, layers=5, dropout=0.5, seconds=30.0, clips_per_genre=100),
}


def preset(name: str, **overrides) -> RunConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
