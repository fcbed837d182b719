"""Atomic writes."""


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os

    from compresstracker.fileio import atomic_write_text

    target = tmp_path / "f.txt"
    atomic_write_text(target, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
