"""Exponential backoff with full jitter (AWS architecture blog's "full jitter")."""

import random


class Backoff:
    def __init__(self, *, base: float, cap: float, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        # Jitter only spreads reconnects in time; it needs no cryptographic randomness.
        self.rng = rng or random.Random()  # noqa: S311
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
