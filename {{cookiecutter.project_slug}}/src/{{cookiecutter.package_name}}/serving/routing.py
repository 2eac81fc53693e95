"""Champion / challenger routing, chosen by `serving.routing` at run time.

- `single`:  every request goes to the champion.
- `canary`:  a weighted share goes to the challenger, sticky per request key (the same key
             always lands on the same model).
- `shadow`:  the champion answers; the challenger gets a copy off the request path and its
             answer is only logged.
- `ab-test`: a deterministic split by a hash of the user key (a user always sees one arm).
- `bandit`:  epsilon-greedy or Thompson sampling over the two models; rewards in [0, 1] come
             from `/feedback` (`reward`): classification 1 when the logged prediction was
             the label; regression 1 when |label - prediction| is within the serving
             model's offline test MAE (its bundle's `metrics.mae`), else 0.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from typing import Any

from {{ cookiecutter.package_name }}.serving.outputs import ModelTask, label_key
from {{ cookiecutter.package_name }}.settings import BanditPolicy, Role, Strategy

ARMS: tuple[Role, Role] = ("champion", "challenger")


@dataclass(frozen=True)
class Decision:
    role: Role
    shadow: bool = False


CHAMPION = Decision("champion")


def bucket(key: str, salt: str) -> float:
    """A uniform, stable number in [0, 1) for `key` (blake2b: same on every replica)."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def reward(task: ModelTask, prediction: Any, label: Any) -> float | None:
    """The bandit's reward for one labelled prediction (None: the task defines none: a
    regression model whose bundle records no offline MAE; `check_models` refuses those for
    the bandit)."""
    if task.is_classification:
        return float(label_key(prediction) == label_key(label))
    tolerance = task.offline_mae
    if tolerance is None:
        return None
    return float(abs(float(label) - float(prediction)) <= tolerance)


class Router:
    """Base router: everything to the champion."""

    strategy: Strategy = "single"
    needs_challenger = False

    def route(self, key: str) -> Decision:
        return CHAMPION

    def reward(self, role: str, value: float) -> None:
        """Feedback for a prediction served by `role` (only the bandit learns from it)."""

    def state(self) -> dict[str, object]:
        return {"strategy": self.strategy}


class CanaryRouter(Router):
    strategy: Strategy = "canary"
    needs_challenger = True

    def __init__(self, weight: float, salt: str = "canary") -> None:
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"canary weight {weight} is outside [0, 1]")
        self.weight = weight
        self.salt = salt

    def route(self, key: str) -> Decision:
        return Decision("challenger" if bucket(key, self.salt) < self.weight else "champion")

    def state(self) -> dict[str, object]:
        return {"strategy": self.strategy, "challenger_weight": self.weight}


class ABTestRouter(CanaryRouter):
    """Same hashing as the canary, keyed by the user and salted per experiment."""

    strategy: Strategy = "ab-test"


class ShadowRouter(Router):
    strategy: Strategy = "shadow"
    needs_challenger = True

    def route(self, key: str) -> Decision:
        return Decision("champion", shadow=True)


class BanditRouter(Router):
    """Two-armed Bernoulli bandit; thread-safe, seeded for reproducibility."""

    strategy: Strategy = "bandit"
    needs_challenger = True

    def __init__(
        self,
        policy: BanditPolicy,
        epsilon: float = 0.1,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"bandit epsilon {epsilon} is outside [0, 1]")
        self.policy = policy
        self.epsilon = epsilon
        self._random = random.Random(seed)  # noqa: S311 - exploration, not cryptography
        self._lock = threading.Lock()
        self.successes = dict.fromkeys(ARMS, 0.0)
        self.failures = dict.fromkeys(ARMS, 0.0)

    def _mean(self, arm: Role) -> float:
        # Beta(1, 1) prior: an untried arm scores 0.5, so both get tried.
        return (self.successes[arm] + 1.0) / (self.successes[arm] + self.failures[arm] + 2.0)

    def route(self, key: str) -> Decision:
        with self._lock:
            if self.policy == "thompson":
                draws = {
                    arm: self._random.betavariate(self.successes[arm] + 1, self.failures[arm] + 1)
                    for arm in ARMS
                }
                return Decision(max(ARMS, key=draws.__getitem__))
            if self._random.random() < self.epsilon:
                return Decision(self._random.choice(ARMS))
            return Decision(max(ARMS, key=self._mean))

    def reward(self, role: str, value: float) -> None:
        if role not in ARMS:
            return
        arm: Role = "champion" if role == "champion" else "challenger"
        with self._lock:
            self.successes[arm] += value
            self.failures[arm] += 1.0 - value

    def state(self) -> dict[str, object]:
        with self._lock:
            return {
                "strategy": self.strategy,
                "policy": self.policy,
                "epsilon": self.epsilon,
                "arms": {
                    arm: {
                        "successes": self.successes[arm],
                        "failures": self.failures[arm],
                        "mean_reward": round(self._mean(arm), 4),
                    }
                    for arm in ARMS
                },
            }


def make_router(
    strategy: Strategy,
    *,
    canary_weight: float = 0.1,
    ab_split: float = 0.5,
    bandit_policy: BanditPolicy = "thompson",
    bandit_epsilon: float = 0.1,
    seed: int = 0,
) -> Router:
    if strategy == "canary":
        return CanaryRouter(canary_weight)
    if strategy == "ab-test":
        return ABTestRouter(ab_split, salt="ab-test")
    if strategy == "shadow":
        return ShadowRouter()
    if strategy == "bandit":
        return BanditRouter(bandit_policy, bandit_epsilon, seed)
    return Router()
