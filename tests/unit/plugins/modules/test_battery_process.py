"""sim_process with malformed options: refused naming the option before any process is
looked at, started or stopped and before any file is written (the battery's closed world)."""

import pytest
from battery import Case, check, run

SECRET = "s3cr3t-ready-pw"
BASE = dict(name="podinfo", state_dir="/var/tmp/gitops-progressive-battery/state", argv=["/bin/sleep", "60"])


def case(why, option, **args):
    return Case("sim_process", dict(BASE, **args), option, why)


CASES = [
    case("an empty name", "name", name=""),
    case("a name with a slash", "name", name="a/b"),
    case("a name climbing out", "name", name=".."),
    case("a name with a newline", "name", name="podinfo\n"),
    case("a name too long", "name", name="p" * 65),
    case("a name starting with a dot", "name", name=".hidden"),
    case("state_dir the root", "state_dir", state_dir="/"),
    case("state_dir the root, spelled //", "state_dir", state_dir="//"),
    case("state_dir /etc", "state_dir", state_dir="/etc"),
    case("state_dir /usr/", "state_dir", state_dir="/usr/"),
    case("state_dir the home directory", "state_dir", state_dir="~"),
    case("state_dir relative", "state_dir", state_dir="state"),
    case("state_dir empty", "state_dir", state_dir=""),
    case("chdir relative", "chdir", chdir="work"),
    case("chdir the root", "chdir", chdir="/"),
    case("argv empty", "argv", argv=[]),
    case("argv with an empty program", "argv", argv=["", "x"]),
    case("argv with a NUL", "argv", argv=["/bin/sleep", "6\x000"]),
    case("argv missing", "argv", argv=None),
    case("an env name with a space", "env", env={"A B": "1"}),
    case("an env name starting with a digit", "env", env={"1A": "1"}),
    case("an env value with a NUL", "env", env={"A": "x\x00y"}),
    case("a user that is a wildcard", "user", user="*"),
    case("a user with capitals and a space", "user", user="Load Tester"),
    case("a user too long", "user", user="u" * 33),
    case("ready_url without a scheme", "ready_url", ready_url="127.0.0.1:9898/healthz"),
    case("ready_url of another machine", "ready_url", ready_url="http://192.0.2.1:9898/healthz"),
    case("ready_url with credentials", "ready_url", ready_url="http://u:%s@127.0.0.1:9898/" % SECRET),
    case("ready_url with a token", "ready_url", ready_url="http://127.0.0.1:9898/?token=%s" % SECRET),
    case("ready_url with a bad port", "ready_url", ready_url="http://127.0.0.1:99999/"),
    case("wait_timeout zero", "wait_timeout", wait_timeout=0),
    case("wait_timeout negative", "wait_timeout", wait_timeout=-5),
    case("wait_timeout huge", "wait_timeout", wait_timeout=10 ** 11),
    case("state unknown", "state", state="running"),
    case("an unknown option", "argvs", argvs=["x"]),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_refused_up_front(case):
    check(case)


def test_credentials_in_ready_url_are_masked_even_when_another_option_is_wrong():
    outcome = run(Case("sim_process", dict(BASE, wait_timeout="soon", ready_url="http://u:%s@127.0.0.1:1/" % SECRET),
                       "wait_timeout"))
    assert outcome.failed and "wait_timeout" in outcome.msg and SECRET not in outcome.output


@pytest.mark.parametrize("args", [
    dict(BASE),
    dict(BASE, ready_url="http://127.0.0.1:9898/healthz", env={"HTTP_PROXY": "http://127.0.0.1:1"}),
    dict(BASE, chdir="/var/tmp", user="nobody"),
    dict(BASE, name="kube-apiserver.v1", state="absent", argv=None),
])
def test_valid_options_get_past_the_checks(args):
    """Past the checks the task looks at its files (reading is allowed) and then writes or
    starts: the closed world records that, so it is reached, or it succeeds with nothing to do."""
    outcome = run(Case("sim_process", args, "-"))
    assert outcome.klass(Case("sim_process", args, "-")) in ("reached", "accepted"), outcome.msg
