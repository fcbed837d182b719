"""`ctrack demo` on the shipped teacher (no training, to keep the suite fast)."""
import pytest


def test_demo_compresses_the_builtin_teacher(run_cli, tmp_path):
    result = run_cli("demo", "--out", tmp_path / "demo", "--epochs", "0", "--test-sequences", "2", "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    report = summary["eval"][0]
    assert summary["plan"]["teacher_depth"] == 12 and summary["plan"]["student_depth"] == 4
    assert report["teacher"]["params"] == summary["plan"]["teacher_params"]
    assert report["student"]["params"] == summary["plan"]["student_params"] < report["teacher"]["params"]
    assert report["speedup_macs"] > 1.5
    assert 0 <= report["student"]["metrics"]["auc"] <= 100 and report["kept"] is not None
    assert any(p.endswith(".png") for p in summary["plots"])
    assert report["bench"]["threads"] == 1 and report["speedup_fps"] == report["bench"]["speedup"]
    assert report["student"]["fps"] == 1000 / report["bench"]["student_track_ms"]
    split = summary["test_split"]
    assert (split["sequences"], split["frames"], split["difficulty"]) == (2, 10, "fair")
    assert 0 < split["first_box_auc"] < 100
    assert split["teacher_over_first_box"] == pytest.approx(report["teacher"]["metrics"]["auc"] / split["first_box_auc"])
    assert split["kept_standard_error"] >= 0
    assert any(p.endswith("success.png") for p in summary["plots"])


def test_demo_takes_the_mixformerv2_teacher_down_the_same_road(run_cli, tmp_path):
    result = run_cli("demo", "--teacher-family", "mixformerv2", "--out", tmp_path / "demo", "--epochs", "0",
                     "--test-sequences", "2", "--json")
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    report = summary["eval"][0]
    assert summary["teacher_family"] == "mixformerv2"
    assert summary["plan"]["teacher_depth"] == 8 and summary["plan"]["student_depth"] == 4
    assert report["student"]["params"] < report["teacher"]["params"] and report["kept"] is not None
    assert (tmp_path / "demo" / "mixformerv2-ct4").is_dir() and not (tmp_path / "demo" / "ct4").exists()


def test_demo_names_the_families_it_has_teachers_for(run_cli, tmp_path):
    from compresstracker.demo import builtin_teacher
    from compresstracker.errors import CTrackError

    with pytest.raises(CTrackError, match="no built-in lighttrack teacher; the demo has: mixformerv2, ostrack"):
        builtin_teacher("lighttrack")
    result = run_cli("demo", "--teacher-family", "lighttrack", "--out", tmp_path / "demo")
    assert result.exit_code == 2 and "lighttrack" in result.stderr and "Traceback" not in result.output


def test_kendall_tau_is_tau_b():
    from compresstracker.demo import kendall_tau

    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # 1 tie in a: 5 pairs left, 4 concordant, 1 discordant -> 3 / sqrt(5 * 6)
    assert abs(kendall_tau([1, 1, 2, 3], [1, 2, 4, 3]) - 3 / (5 * 6) ** 0.5) < 1e-12
    assert kendall_tau([1.0], [2.0]) != kendall_tau([1.0], [2.0])  # nan under 2 items


def test_demo_jobs_run_in_their_own_processes_and_come_back_in_order():
    """The elastic demo's runs go two at a time in fresh processes; results return by name, in the order given."""
    import math

    from compresstracker.threads import in_processes

    heard = []
    out = in_processes({"b": (math.sqrt, (9.0,)), "a": (math.factorial, (5,)), "c": (math.gcd, (12, 18))}, heard.append)
    assert list(out) == ["b", "a", "c"] and out == {"b": 3.0, "a": 120, "c": 6}
    assert sorted(heard) == ["a", "b", "c"]


def _dies_once(marker: str) -> str:
    """A job whose first process dies outright (as a native crash would) and whose second finishes."""
    import os
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).touch()
        os._exit(3)
    return "done"


def test_a_demo_job_whose_process_dies_runs_once_more(tmp_path):
    import os

    from compresstracker.threads import in_processes
    from compresstracker.errors import CTrackError

    assert in_processes({"a": (_dies_once, (str(tmp_path / "a"),))}) == {"a": "done"}
    with pytest.raises(CTrackError, match="running b died twice"):
        in_processes({"b": (os._exit, (3,))})


def _warns(text: str) -> str:
    import warnings

    from compresstracker.errors import CTrackWarning

    warnings.warn(text, CTrackWarning)
    return "warned"


def test_a_demo_jobs_warnings_are_one_line_each(capfd):
    from compresstracker.threads import in_processes

    assert in_processes({"a": (_warns, ("the run is complete; nothing to train",))}) == {"a": "warned"}
    err = capfd.readouterr().err
    assert "warning: the run is complete; nothing to train" in err and "CTrackWarning" not in err and ".py:" not in err
