from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devenv.envs.known import EnvInfo, human_age, parse_time


def test_parse_docker_time() -> None:
    got = parse_time("2026-11-22T13:31:10.219554047Z")
    assert got == datetime(2026, 11, 22, 13, 31, 10, 219554, tzinfo=UTC)
    assert parse_time("2026-11-22T13:31:10Z").microsecond == 0


def test_human_age() -> None:
    assert human_age(timedelta(seconds=1)) == "1 second"
    assert human_age(timedelta(seconds=59)) == "59 seconds"
    assert human_age(timedelta(minutes=2, seconds=5)) == "2 minutes"
    assert human_age(timedelta(hours=1)) == "1 hour"
    assert human_age(timedelta(days=3, hours=5)) == "3 days"
    assert human_age(timedelta(seconds=-5)) == "0 seconds"


def test_age_of_a_row() -> None:
    row = EnvInfo("n", "devenv-n", "/p", "x/p", 1, "running", "2026-01-01T00:00:00Z", "img")
    assert row.age(datetime(2026, 1, 1, 2, 0, tzinfo=UTC)) == "2 hours"
    assert EnvInfo("n", "c", "/p", "x/p", None, "stopped", None, "-").age() == "-"
