"""Hostile inputs stay held (issue 10, acceptance 4): whatever a user, a script or an agent's
output passes as a host, a port, an environment name or a ``cp`` path, devenv answers with a
value it validated or a one-line error -- never a traceback, never an ssh option smuggled in
as a host, never a path read as an option."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devenv.cli import main
from devenv.commands import cp
from devenv.envs import identity, ports
from devenv.errors import DevenvError, UsageError
from devenv.runtime import SSHRuntime, SSHTarget
from devenv.runtime.errors import InvalidArgument

NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["-oProxyCommand=touch /tmp/pwned", "-F/etc/passwd", "--", "-", "@",
                     "a b", "host;id", "$(id)", "`id`", "h\nost", "h\x00st", "[::1]:22",
                     "user@-oProxyCommand=x", "user@host:-1", "host:99999", ":", "::"]),
    st.builds(lambda a, b: a + b, st.sampled_from(["-o", "-", "x@", "[", "h:"]),
              st.text(max_size=20)),
)
QUICK = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@QUICK
@given(NASTY)
@example("host:\u00b2")  # a digit to str.isdigit(), not to int() (found by this test)
@example("host:\u0663")  # an Arabic-Indic three: not a port either
def test_a_host_is_a_host_or_refused(spec: str) -> None:
    try:
        target = SSHTarget.from_cli(spec)
    except InvalidArgument as e:
        assert "\n" not in e.message
        return
    assert target.host and not target.host.startswith("-")
    assert not any(c.isspace() or c in ";$`'\"\\\x00" for c in target.host)
    runtime = SSHRuntime(target)
    argv = runtime.endpoint.argv("/nonexistent/socket", command="true")
    # The host is the one positional word before the command: nothing after the options
    # can be read by ssh as an option.
    assert argv[-2:] == [target.host, "true"]
    options = argv[1:-2]
    flags = [o for o in options if o.startswith("-")]
    assert set(flags) <= {"-o", "-p", "-l", "-F", "-i"}, flags  # only devenv's own
    assert target.host not in options


@QUICK
@given(st.one_of(st.integers(), st.text(max_size=12)))
def test_a_port_is_in_range_or_refused(value: int | str) -> None:
    try:
        choice = ports.requested_port(None, {ports.ENV_PORT: str(value)})
    except UsageError as e:
        assert "\n" not in e.message
        return
    if choice is not None:
        assert 1 <= choice.port <= 65535


@QUICK
@given(st.text(max_size=80))
def test_a_name_is_dockers_or_refused(name: str) -> None:
    try:
        checked = identity.check_name(name)
    except UsageError as e:
        assert "\n" not in e.message
        return
    assert identity.NAME_RE.match(checked) and len(checked) <= identity.MAX_NAME


@QUICK
@given(st.text(min_size=1, max_size=40))
def test_cp_paths_are_local_files_or_named_remotes(spec: str) -> None:
    """A spec with a '/' before any ':' (or starting with '.', '~') is a local path, taken
    as it is; anything else names an environment or a host that is validated first."""
    try:
        endpoint = cp._endpoint(spec)
    except (DevenvError, InvalidArgument) as e:
        assert "\n" not in e.message
        return
    except Exception as e:  # noqa: BLE001 - the property: nothing else escapes
        pytest.fail(f"{spec!r}: {type(e).__name__}: {e}")
    assert endpoint.path


@pytest.mark.parametrize("argv", [
    ["exec", "--host", "-oProxyCommand=touch /tmp/pwned-devenv", "--", "true"],
    ["exec", "--host", "x@-oProxyCommand=touch /tmp/pwned-devenv", "--", "true"],
    ["up", "--port", "0", "."],
    ["up", "--name", "../../etc", "."],
    ["stop", "-rf"],
    ["cp", "-oProxyCommand=touch /tmp/pwned-devenv:x", "y"],
])
def test_hostile_arguments_end_in_a_clear_error(argv: list[str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    os.chdir(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (1, 2, 4, 5, 6, 125), (code, err)
    assert "Traceback" not in err and "internal error" not in err
    assert not Path("/tmp/pwned-devenv").exists()
