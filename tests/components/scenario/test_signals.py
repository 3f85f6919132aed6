"""The signal maths: shapes, noise, bounds, rounding and determinism."""

from __future__ import annotations

import random

import pytest

from opencrate.components.scenario.format import (
    ConstantShape,
    RampShape,
    RandomWalkShape,
    ScheduleShape,
    SignalSpec,
    SineShape,
)
from opencrate.components.scenario.signals import SignalSampler, point_rng
from opencrate.model.values import ValueKind


def sampler(spec: SignalSpec, kind: ValueKind = ValueKind.NUMBER, seed: int = 1) -> SignalSampler:
    return SignalSampler(spec, kind, random.Random(seed))


def test_sine_follows_mean_amplitude_period_and_phase() -> None:
    spec = SignalSpec(shape=SineShape(mean=20.0, amplitude=2.0, period_s=400.0), decimals=6)
    s = sampler(spec)
    assert [s.sample(t) for t in (0, 100, 200, 300, 400)] == pytest.approx(
        [20.0, 22.0, 20.0, 18.0, 20.0], abs=1e-6
    )
    shifted = sampler(
        SignalSpec(shape=SineShape(mean=20.0, amplitude=2.0, period_s=400.0, phase_s=100.0))
    )
    assert shifted.sample(0) == 22.0


def test_schedule_holds_each_step_and_repeats() -> None:
    shape = ScheduleShape(steps=((0.0, True), (50.0, False)), period_s=60.0)
    s = sampler(SignalSpec(shape=shape), ValueKind.BOOL)
    assert [s.sample(t) for t in (0, 49.9, 50, 59, 60, 115)] == [
        True,
        True,
        False,
        False,
        True,
        False,
    ]


def test_ramp_counts_per_hour_and_constant_stays() -> None:
    ramp = sampler(SignalSpec(shape=RampShape(start=100.0, rate_per_h=42.0), decimals=1))
    assert (ramp.sample(0), ramp.sample(1800), ramp.sample(7200)) == (100.0, 121.0, 184.0)
    mode = sampler(SignalSpec(shape=ConstantShape(value=3)), ValueKind.ENUM)
    assert {mode.sample(t) for t in range(0, 1000, 7)} == {3}


def test_random_walk_stays_in_bounds_and_moves() -> None:
    spec = SignalSpec(shape=RandomWalkShape(start=5.0, step=2.0), low=0.0, high=10.0)
    s = sampler(spec)
    values = [s.sample(t) for t in range(2000)]
    assert min(values) >= 0.0
    assert max(values) <= 10.0
    assert len(set(values)) > 100
    # The pull towards the start keeps it centred over a long run.
    assert 3.0 < sum(values) / len(values) < 7.0


def test_noise_is_gaussian_around_the_shape_and_rounded() -> None:
    spec = SignalSpec(shape=ConstantShape(value=10.0), noise=0.5, decimals=1)
    values = [sampler(spec, seed=seed).sample(0) for seed in range(400)]
    assert all(round(v, 1) == v for v in values)
    assert 9.9 < sum(values) / len(values) < 10.1
    assert max(values) - min(values) > 1.0


def test_clamping_applies_to_noisy_sines() -> None:
    spec = SignalSpec(shape=SineShape(mean=95.0, amplitude=20.0, period_s=60.0), high=100.0)
    assert max(sampler(spec).sample(t) for t in range(60)) == 100.0


def test_same_seed_and_point_give_the_same_stream_and_others_differ() -> None:
    spec = SignalSpec(shape=RandomWalkShape(start=0.0, step=1.0), noise=0.2)

    def stream(seed: int, node_id: str) -> list[object]:
        s = SignalSampler(spec, ValueKind.NUMBER, point_rng(seed, node_id))
        return [s.sample(t) for t in range(50)]

    assert stream(42, "1001/ai-1") == stream(42, "1001/ai-1")
    assert stream(42, "1001/ai-1") != stream(42, "1001/ai-2")
    assert stream(42, "1001/ai-1") != stream(43, "1001/ai-1")
