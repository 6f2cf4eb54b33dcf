"""The unit contract: what a unit is given, what it must return, and :func:`check_unit`, which checks it.

Every unit, built in (:data:`models.registry.UNITS`) or a plugin (:mod:`models.plugins`), keeps the
same contract; ``python -m bench check-unit NAME`` runs the check in seconds, and the tests run it on
every built-in unit.

**What a unit is given.** The input width (features per frame: 374 scattering channels by default)
and the run's :class:`models.ModelConfig` (``hidden``, ``layers``, ``dropout``, ``block`` and the
rest; a unit reads what it needs and ignores the others).

**What it returns.** A built-in unit registers a :class:`models.registry.Unit`, two builders:

- ``native(input_dim, config) -> encoder``, the unit as published: a module with
  ``output_size == config.hidden``, called ``encoder(x, lengths)``: ``x`` is ``(batch, time,
  input_dim)`` float, ``lengths`` the ``(batch,)`` valid frames per sequence (or None: all valid); it
  returns ``(batch, time, config.hidden)`` in ``x``'s dtype;
- ``layer(config, i) -> layer``, its recurrence alone (layer ``i`` of ``config.layers``), called
  ``layer(x)``: ``(batch, time, config.hidden)`` to the same shape, which the controlled scaffolds
  (``--block stack`` or ``residual``, :mod:`models.scaffold`) wrap in the same norm, dropout and head
  as every other unit.

A **plugin** provides only its recurrence: one factory ``factory(input_size, config) -> layer``,
``layer(x)`` mapping ``(batch, time, input_size)`` to ``(batch, time, config.hidden)``. The suite
stacks it (as published: its layers plainly, :class:`models.plugins.PluginStack`) or wraps it in a
scaffold (each layer ``factory(config.hidden, config)``), like every other unit.

**Causal, so padding never reaches a valid frame.** Sequences are padded at the end; the output at
frame ``t`` may depend on frames ``0..t`` only, never on later ones, nor on how many frames follow
(the padded length). Anything that mixes frames beyond that (batch-norm statistics over time) counts
valid frames only, from ``lengths``. The head then reads each sequence at its last valid frame (or the
mean of its valid frames), so no prediction depends on padding.

**Optional hooks**, found by name on any submodule, so the trainer never knows which unit it trains:

- ``project_()``: a projection run after every optimiser step (:mod:`models.constraints`), as the
  IndRNN clamps ``|u|``;
- ``recurrent_macs() -> int``: the recurrence's elementwise multiply-adds per frame, added to the
  count of weight products (:mod:`models.cost`);
- ``models.kernels.note_ran(op, kernel, dtype)`` called in ``forward``: which kernel really ran, and
  in which dtype (``folds.csv``'s ``kernels``; empty for a unit that records nothing).

**What :func:`check_unit` checks** (one :class:`Check` per point, on a tiny padded batch, for one
device and one block): ``build``; ``shape`` (``(batch, time, hidden)`` in the input's dtype, from one
layer and from the whole encoder);
``causal`` (a change at frame ``t`` changes nothing before ``t``); ``padding`` (the outputs at valid
frames are the same with and without padding, and whatever the padding holds, in evaluation and in
training mode: a causal unit can still leak, e.g. by reading how many frames follow); ``gradients`` (every parameter gets a finite gradient); ``seed`` (the same
seed, the same parameters and outputs); ``readout last`` and ``readout mean`` (logits of the right
shape, each sequence's the same alone as in the padded batch); ``gradcheck`` (float64 gradients of the
input and every parameter against finite differences, on a tiny case); ``hooks`` (those present run).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch.autograd.gradcheck import GradcheckError

from .config import ModelConfig
from .constraints import project_
from .cost import macs_per_frame
from .kernels import recording
from .registry import build, resolve

__all__ = ["Check", "check_unit", "POINTS", "RUN_POINTS", "CHECK_CONFIG"]

INPUT, FRAMES, CLASSES = 5, 12, 4
LENGTHS = (12, 7, 1)  # a full sequence, a padded one, and one of a single frame
CHECK_CONFIG = ModelConfig(hidden=8, layers=2, dropout=0.25, max_len=FRAMES)  # dropout > 0: training mode is checked too
"""The small architecture :func:`check_unit` builds a unit at (8 wide, 2 layers, dropout 0.25)."""
POINTS = ("build", "shape", "causal", "padding", "gradients", "seed", "readout last", "readout mean", "gradcheck",
          "hooks")
"""Every point of the contract, in the order :func:`check_unit` checks them (``bench check-unit``)."""
RUN_POINTS = ("build", "shape", "causal", "padding")  # what bench run checks on a plugin before it writes anything
"""The points ``bench run`` checks on a plugin before it writes anything."""
_STOP = ("build", "shape")  # a unit failing these cannot be checked further


@dataclass(frozen=True)
class Check:
    """One point of the contract: its name, whether it held, and what was seen.

    Attributes:
        point: the point's name, one of :data:`POINTS`.
        ok: whether it held.
        detail: what was seen (on failure, where and by how much).
    """

    point: str
    ok: bool
    detail: str


def check_unit(name: str, device: str = "cpu", block: str = "native", config: ModelConfig | None = None,
               points: tuple[str, ...] = POINTS) -> list[Check]:
    """Check unit ``name`` against the contract on ``device`` in ``block``.

    Args:
        name: a built-in unit, an installed plugin or a ``module:factory`` spec.
        device: ``"cpu"``, ``"cuda"``, ...
        block: ``"native"``, ``"stack"`` or ``"residual"``.
        config: the architecture (default :data:`CHECK_CONFIG`: 2 layers x 8, dropout 0.25); its
            ``block`` is replaced by ``block``.
        points: which points, in order (default :data:`POINTS`, all).

    Returns:
        One :class:`Check` per point; none after a failed ``build`` or ``shape``. A unit that cannot even
            be found raises (``ValueError``, :class:`models.plugins.PluginError`) rather than fail a point.
    """
    probe = _Probe(name, torch.device(device), replace(config or CHECK_CONFIG, block=block))
    results = []
    for point in points:
        try:
            ok, detail = probe.point(point)
        except Exception as exc:  # noqa: BLE001 - a unit's error is a failed point, reported in one line
            ok, detail = False, _reason(exc)
        results.append(Check(point, ok, detail))
        if not ok and point in _STOP:
            break
    return results


class _Probe:
    """The tiny batch every point runs on, and the model built the same way for each."""

    def __init__(self, name: str, device: torch.device, config: ModelConfig):
        self.name, self.device, self.config = name, device, config
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(len(LENGTHS), FRAMES, INPUT, generator=gen).to(device)  # (batch, time, input)
        self.lengths = torch.tensor(LENGTHS)
        valid = torch.arange(FRAMES)[None, :] < self.lengths[:, None]  # (batch, time)
        self.valid = valid.to(device)
        garbage = 1e3 * torch.randn(self.x.shape, generator=gen).to(device)
        self.x_other = torch.where(self.valid[..., None], self.x, garbage)  # other padding, the same valid frames
        self.targets = torch.arange(len(LENGTHS)) % CLASSES

    def point(self, point: str) -> tuple[bool, str]:
        return getattr(self, "_" + point.replace(" ", "_"))()

    def model(self, seed: int = 0, **changes):
        torch.manual_seed(seed)
        return build(self.name, INPUT, CLASSES, replace(self.config, **changes)).to(self.device)

    def encode(self, encoder, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return encoder(x, None if lengths is None else lengths.to(self.device))

    # -- the points --------------------------------------------------------------------------------
    def _build(self) -> tuple[bool, str]:
        model = self.model()
        n = sum(p.numel() for p in model.encoder.parameters())
        return True, f"{type(model.encoder).__name__}, {n:,} parameters"

    def _shape(self) -> tuple[bool, str]:
        want = (len(LENGTHS), FRAMES, self.config.hidden)
        expected = f"expected {want} {_dtype(self.x)}: (batch, time, config.hidden) in the input's dtype"
        make_layer = resolve(self.name).layer
        if make_layer is not None:  # one layer alone first: a stack of wrong layers fails in the next one's input
            torch.manual_seed(0)
            layer = make_layer(self.config, 0).to(self.device).eval()
            x = torch.randn(want, generator=torch.Generator().manual_seed(1)).to(self.device)
            with torch.no_grad():
                y = layer(x)
            if tuple(y.shape) != want or y.dtype != x.dtype:
                return False, f"its layer maps {want} {_dtype(x)} to {tuple(y.shape)} {_dtype(y)}; {expected}"
        encoder = self.model().encoder.eval()
        with torch.no_grad():
            y = self.encode(encoder, self.x, self.lengths)
        seen = f"{tuple(self.x.shape)} {_dtype(self.x)} -> {tuple(y.shape)} {_dtype(y)}"
        if tuple(y.shape) != want or y.dtype != self.x.dtype:
            return False, f"{seen}; {expected}"
        if getattr(encoder, "output_size", None) != self.config.hidden:
            return False, f"{seen}, but the encoder's output_size is {getattr(encoder, 'output_size', None)!r}"
        return True, seen

    def _padding(self) -> tuple[bool, str]:
        encoder = self.model().encoder.eval()
        with torch.no_grad():
            padded = self.encode(encoder, self.x, self.lengths)
            for i, n in enumerate(LENGTHS):
                alone = self.encode(encoder, self.x[i:i + 1, :n], self.lengths[i:i + 1])
                if (bad := _first_difference(padded[i, :n], alone[0])) is not None:
                    return False, f"sequence {i} ({n} valid frames): frame {bad[0]} differs by {bad[1]:.3g} between " \
                                  f"the padded batch ({FRAMES} frames) and the sequence alone"
            other = self.encode(encoder, self.x_other, self.lengths)
            if (bad := self._valid_difference(padded, other)) is not None:
                return False, f"{bad} when only the padding changes (evaluation mode)"
            encoder.train()
            torch.manual_seed(1)
            padded = self.encode(encoder, self.x, self.lengths)
            torch.manual_seed(1)
            other = self.encode(encoder, self.x_other, self.lengths)
            if (bad := self._valid_difference(padded, other)) is not None:
                return False, f"{bad} when only the padding changes (training mode)"
        return True, (f"valid frames the same padded to {FRAMES} frames as alone (lengths "
                      f"{', '.join(map(str, LENGTHS))}), whatever the padding holds, in evaluation and training mode")

    def _causal(self) -> tuple[bool, str]:
        encoder = self.model().encoder.eval()
        gen = torch.Generator().manual_seed(2)
        with torch.no_grad():
            base = self.encode(encoder, self.x, None)
            for t in (FRAMES // 2, 1, FRAMES - 1):
                x = self.x.clone()
                x[:, t] += 3 * torch.randn(x.shape[0], x.shape[2], generator=gen).to(self.device)
                changed = self.encode(encoder, x, None)
                for i in range(len(LENGTHS)):
                    if (bad := _first_difference(base[i, :t], changed[i, :t])) is not None:
                        return False, f"a change at frame {t} changed frame {bad[0]} (by {bad[1]:.3g}), before it"
        return True, f"a change at frame {FRAMES // 2}, 1 or {FRAMES - 1} changes no frame before it"

    def _gradients(self) -> tuple[bool, str]:
        model = self.model().train()
        torch.manual_seed(1)
        F.cross_entropy(model(self.x, self.lengths), self.targets.to(self.device)).backward()
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        missing = [n for n, p in named if p.grad is None]
        if missing:
            return False, f"no gradient reaches {_listing(missing)}"
        bad = [n for n, p in named if not torch.isfinite(p.grad).all()]
        if bad:
            return False, f"non-finite gradient for {_listing(bad)}"
        return True, f"all {len(named)} parameter tensors have a finite gradient"

    def _seed(self) -> tuple[bool, str]:
        outputs = []
        for _ in range(2):
            model = self.model(seed=3)
            with torch.no_grad():
                evaluated = model.eval()(self.x, self.lengths)
                torch.manual_seed(4)
                trained = model.train()(self.x, self.lengths)
            outputs.append((model.state_dict(), evaluated, trained))
        (s1, e1, t1), (s2, e2, t2) = outputs
        if s1.keys() != s2.keys() or any(not torch.equal(s1[k], s2[k]) for k in s1):
            return False, "two builds with seed 3 have different parameters or buffers"
        if not torch.equal(e1, e2) or not torch.equal(t1, t2):
            return False, "two builds with seed 3 give different outputs for the same input and seed"
        return True, "two builds with seed 3: the same parameters, the same outputs (evaluation and training)"

    def _readout(self, readout: str) -> tuple[bool, str]:
        model = self.model(readout=readout).eval()
        with torch.no_grad():
            logits = model(self.x, self.lengths)
            if tuple(logits.shape) != (len(LENGTHS), CLASSES) or not torch.isfinite(logits).all():
                return False, f"logits {tuple(logits.shape)} (finite: {bool(torch.isfinite(logits).all())}), " \
                              f"expected ({len(LENGTHS)}, {CLASSES}), finite"
            for i, n in enumerate(LENGTHS):
                alone = model(self.x[i:i + 1, :n], self.lengths[i:i + 1])
                if (bad := _first_difference(logits[i:i + 1], alone)) is not None:
                    return False, f"sequence {i} ({n} valid frames): its logits differ by {bad[1]:.3g} padded and alone"
        return True, f"logits ({len(LENGTHS)}, {CLASSES}), each sequence's the same padded and alone"

    def _readout_last(self) -> tuple[bool, str]:
        return self._readout("last")

    def _readout_mean(self) -> tuple[bool, str]:
        return self._readout("mean")

    def _gradcheck(self) -> tuple[bool, str]:
        config = replace(self.config, hidden=3, layers=1, dropout=0.0, max_len=4)
        torch.manual_seed(0)
        encoder = build(self.name, 2, CLASSES, config).encoder.to(self.device, torch.float64).eval()
        x = torch.randn(2, 4, 2, dtype=torch.float64, device=self.device, requires_grad=True)
        lengths = torch.tensor([4, 2], device=self.device)
        names = [n for n, p in encoder.named_parameters() if p.requires_grad]
        params = [p.detach().clone().requires_grad_() for n, p in encoder.named_parameters() if p.requires_grad]

        def run(x, *values):
            return torch.func.functional_call(encoder, dict(zip(names, values)), (x, lengths))

        try:
            torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)
        except GradcheckError as exc:
            return False, "float64 gradients differ from finite differences: " + str(exc).strip().splitlines()[0]
        n = x.numel() + sum(p.numel() for p in params)
        return True, f"float64 gradients of the input and {len(params)} parameter tensors ({n} numbers) match " \
                     "finite differences (batch 2, 4 frames, 1 layer x 3)"

    def _hooks(self) -> tuple[bool, str]:
        model = self.model()
        projected = [type(m).__name__ for m in model.modules() if callable(getattr(m, "project_", None))]
        project_(model)
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            return False, "project_() left a non-finite parameter"
        declared = [m.recurrent_macs() for m in model.modules() if callable(getattr(m, "recurrent_macs", None))]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in declared):
            return False, f"recurrent_macs() must return integers >= 0, got {declared}"
        with recording() as ran, torch.no_grad():
            model.eval()(self.x, self.lengths)
        kernels = ";".join(":".join(r) for r in sorted(ran)) or "none recorded"
        return True, (f"project_ on {', '.join(sorted(set(projected))) or 'nothing'}; "
                      f"{macs_per_frame(model):,} multiply-adds per frame ({sum(declared):,} declared by "
                      f"recurrent_macs); kernels {kernels}")

    def _valid_difference(self, a: torch.Tensor, b: torch.Tensor) -> str | None:
        for i, n in enumerate(LENGTHS):
            if (bad := _first_difference(a[i, :n], b[i, :n])) is not None:
                return f"sequence {i} ({n} valid frames): frame {bad[0]} differs by {bad[1]:.3g}"
        return None


def _first_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[int, float] | None:
    """The first index along the first axis where ``a`` and ``b`` differ beyond float32 noise, and by how
    much; None when they agree. Shapes that differ count as a difference at 0."""
    if a.shape != b.shape:
        return 0, float("inf")
    close = torch.isclose(a, b, rtol=1e-4, atol=1e-5).reshape(a.shape[0], -1).all(dim=1)  # (first axis,)
    if bool(close.all()):
        return None
    i = int((~close).nonzero()[0])
    return i, float((a[i] - b[i]).abs().max())


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _listing(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _reason(exc: BaseException) -> str:
    """A failed point's detail: a plugin's own error without its name (the line names the unit), else what was raised."""
    reason = getattr(exc, "reason", None)  # a PluginError
    if reason:
        return reason
    text = " ".join(str(exc).split())
    return f"raised {type(exc).__name__}: {text[:300]}" if text else f"raised {type(exc).__name__}"
