"""Sampling a :class:`~opencrate.components.scenario.format.SignalSpec`: the maths of the simulator.

No I/O and no clock: a :class:`SignalSampler` is asked for the value at
``elapsed_s`` seconds since the simulation started and answers from the shape,
its own random generator and (for a random walk) its previous step. Given the
same seed and the same sequence of ``elapsed_s`` it returns the same values,
which is what makes the demo and its tests repeatable.
"""

from __future__ import annotations

import bisect
import math
import random

from opencrate.components.scenario.format import (
    ConstantShape,
    RampShape,
    RandomWalkShape,
    ScheduleShape,
    SignalSpec,
    SineShape,
)
from opencrate.model.values import PointValue, ValueKind

__all__ = ["SignalSampler", "point_rng"]


def point_rng(seed: int, node_id: str) -> random.Random:
    """The random generator of one point: depends on the scenario seed and the id only.

    A string seed is hashed with SHA-512 by :class:`random.Random`, so the
    stream does not change with ``PYTHONHASHSEED`` or with the other points.
    """
    return random.Random(f"{seed}:{node_id}")


class SignalSampler:
    """Produces the values of one signal; see the module docstring."""

    def __init__(self, spec: SignalSpec, kind: ValueKind, rng: random.Random) -> None:
        self.spec = spec
        self.kind = kind
        self._rng = rng
        shape = spec.shape
        self._walk = shape.start if isinstance(shape, RandomWalkShape) else 0.0
        self._offsets = [at for at, _ in shape.steps] if isinstance(shape, ScheduleShape) else []

    def sample(self, elapsed_s: float) -> PointValue:
        """The value at ``elapsed_s``; numbers get noise, clamping and rounding."""
        raw = self._shape_value(elapsed_s)
        if self.kind is not ValueKind.NUMBER or isinstance(raw, bool | str):
            return raw
        value = float(raw)
        if self.spec.noise:
            value += self._rng.gauss(0.0, self.spec.noise)
        value = self._clamp(value)
        return round(value, self.spec.decimals)

    def _clamp(self, value: float) -> float:
        if self.spec.low is not None:
            value = max(self.spec.low, value)
        if self.spec.high is not None:
            value = min(self.spec.high, value)
        return value

    def _shape_value(self, elapsed_s: float) -> PointValue:
        shape = self.spec.shape
        if isinstance(shape, SineShape):
            angle = 2 * math.pi * (elapsed_s + shape.phase_s) / shape.period_s
            return shape.mean + shape.amplitude * math.sin(angle)
        if isinstance(shape, ScheduleShape):
            offset = elapsed_s % shape.period_s
            index = bisect.bisect_right(self._offsets, offset) - 1
            return shape.steps[index][1]
        if isinstance(shape, RandomWalkShape):
            step = self._rng.uniform(-shape.step, shape.step)
            walked = self._walk + step + shape.pull * (shape.start - self._walk)
            # The walk itself stays inside the bounds, so it never sticks beyond them.
            self._walk = self._clamp(walked)
            return self._walk
        if isinstance(shape, RampShape):
            return shape.start + shape.rate_per_h * elapsed_s / 3600
        assert isinstance(shape, ConstantShape)
        return shape.value
