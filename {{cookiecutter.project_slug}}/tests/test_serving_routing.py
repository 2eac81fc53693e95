"""Routing statistics: canary share, stickiness, A/B determinism, bandit convergence."""

from __future__ import annotations

import random

import pytest

from {{ cookiecutter.package_name }}.serving.routing import (
    ABTestRouter,
    BanditRouter,
    CanaryRouter,
    Router,
    ShadowRouter,
    make_router,
)

N = 10_000


def share(router: Router, keys: list[str]) -> float:
    return sum(router.route(key).role == "challenger" for key in keys) / len(keys)


def test_canary_share_within_tolerance() -> None:
    keys = [f"request-{i}" for i in range(N)]
    observed = share(CanaryRouter(0.10), keys)
    # Binomial(10 000, 0.1): sd = 0.003; 4 sd = 0.012.
    assert abs(observed - 0.10) < 0.012, observed


def test_canary_is_sticky_and_monotonic() -> None:
    router = CanaryRouter(0.10)
    first = [router.route(f"user-{i}").role for i in range(1000)]
    assert first == [router.route(f"user-{i}").role for i in range(1000)]
    wider = CanaryRouter(0.30)
    # Raising the weight only moves champion users to the challenger, never back.
    assert all(
        wider.route(f"user-{i}").role == "challenger"
        for i, role in enumerate(first)
        if role == "challenger"
    )


def test_ab_split_is_deterministic_and_balanced() -> None:
    router = ABTestRouter(0.5, salt="ab-test")
    keys = [f"user-{i}" for i in range(N)]
    assert abs(share(router, keys) - 0.5) < 0.02
    assert [router.route(k).role for k in keys[:500]] == [
        ABTestRouter(0.5, salt="ab-test").route(k).role for k in keys[:500]
    ]


def test_single_and_shadow_always_answer_with_the_champion() -> None:
    keys = [f"k{i}" for i in range(1000)]
    assert share(Router(), keys) == 0.0
    decisions = [ShadowRouter().route(k) for k in keys]
    assert all(d.role == "champion" and d.shadow for d in decisions)


@pytest.mark.parametrize("policy", ["epsilon-greedy", "thompson"])
def test_bandit_converges_to_the_better_arm(policy: str) -> None:
    router = make_router("bandit", bandit_policy=policy, bandit_epsilon=0.1, seed=7)  # type: ignore[arg-type]
    assert isinstance(router, BanditRouter)
    rewards = {"champion": 0.55, "challenger": 0.75}
    rng = random.Random(11)
    late = []
    for step in range(4000):
        role = router.route(f"r{step}").role
        router.reward(role, float(rng.random() < rewards[role]))
        if step >= 3000:
            late.append(role)
    assert late.count("challenger") / len(late) > 0.85, router.state()


def test_bandit_ignores_unknown_roles() -> None:
    router = BanditRouter("thompson", seed=1)
    router.reward("shadow", 1.0)
    assert router.successes == {"champion": 0.0, "challenger": 0.0}


def test_invalid_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        CanaryRouter(1.5)
    with pytest.raises(ValueError, match="outside"):
        BanditRouter("epsilon-greedy", epsilon=-0.1)
