"""Stage planner, progressive schedule and replacement sampling."""
import pytest
import torch

from compresstracker.compression.plan import StagePlan, plan_stages
from compresstracker.compression.schedule import replacement_probability, sample_pattern
from compresstracker.errors import ConfigError


@pytest.mark.parametrize(
    "n,ends",
    [(2, [5, 11]), (3, [3, 7, 11]), (4, [2, 5, 8, 11]), (6, [1, 3, 5, 7, 9, 11])],
)
def test_even_split_matches_paper_stage_ends(n, ends):
    plan = plan_stages(12, n)
    assert plan.stage_ends == ends
    assert plan.student_init == tuple(ends)  # stage-end init
    assert [layer for stage in plan.stages for layer in stage] == list(range(12))


def test_uneven_split_and_start_init():
    plan = plan_stages(12, split=[2, 2, 6, 2], init="stage-start")
    assert plan.stages == ((0, 1), (2, 3), (4, 5, 6, 7, 8, 9), (10, 11))
    assert plan.student_init == (0, 2, 4, 10)


def test_split_must_cover_teacher_exactly():
    with pytest.raises(ConfigError, match="covers 11 layers"):
        plan_stages(12, split=[2, 2, 5, 2])
    with pytest.raises(ConfigError, match="empty stage"):
        plan_stages(12, split=[0, 6, 6])
    with pytest.raises(ConfigError, match="exceeds"):
        plan_stages(4, 5)


def test_remainder_goes_to_last_stage():
    plan = plan_stages(12, 5)
    assert [len(s) for s in plan.stages] == [2, 2, 2, 2, 4]


def test_explicit_init_layers_and_layers_per_stage():
    plan = plan_stages(12, 2, init="0,1,6,7", layers_per_stage=2)
    assert plan.student_depth == 4 and plan.student_init == (0, 1, 6, 7)
    assert list(plan.student_layers(1)) == [2, 3]
    assert plan_stages(12, 2, layers_per_stage=2).student_init == (4, 5, 10, 11)
    with pytest.raises(ConfigError, match="lists 3 layers"):
        plan_stages(12, 2, init="0,1,2", layers_per_stage=2)
    with pytest.raises(ConfigError, match="must lie"):
        plan_stages(12, 4, init="0,1,2,12")


def test_plan_round_trips_through_dict():
    plan = plan_stages(12, split=[3, 3, 4, 2])
    assert StagePlan.from_dict(plan.to_dict()) == plan


def test_progressive_schedule_boundaries():
    m = 500
    assert replacement_probability(1, m) == 0.5
    assert replacement_probability(50, m) == 0.5
    assert replacement_probability(51, m) == pytest.approx(0.5 + 0.5 / 400)
    assert replacement_probability(250, m) == pytest.approx(0.75)
    assert replacement_probability(450, m) == pytest.approx(1.0)
    assert replacement_probability(451, m) == 1.0
    assert replacement_probability(500, m) == 1.0
    values = [replacement_probability(e, m) for e in range(1, m + 1)]
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_schedule_rejects_alphas_covering_everything():
    with pytest.raises(ConfigError):
        replacement_probability(1, 10, alpha1=0.5, alpha2=0.5)


def test_sampling_always_has_a_student_stage_and_is_seeded():
    gen = torch.Generator().manual_seed(3)
    patterns = [sample_pattern(4, 0.05, gen) for _ in range(300)]
    assert all(any(p) for p in patterns)
    # with p tiny, the fallback picks one stage uniformly: every stage gets picked sometimes
    assert {p.index(True) for p in patterns if sum(p) == 1} == {0, 1, 2, 3}
    again = torch.Generator().manual_seed(3)
    assert [sample_pattern(4, 0.05, again) for _ in range(300)] == patterns
    gen_half = torch.Generator().manual_seed(0)
    share = sum(sum(sample_pattern(4, 0.5, gen_half)) for _ in range(2000)) / 8000
    assert 0.5 < share < 0.6  # p plus the at-least-one correction (1/16 of draws)


def test_p_one_is_all_student():
    gen = torch.Generator().manual_seed(0)
    assert all(all(sample_pattern(3, 1.0, gen)) for _ in range(50))
