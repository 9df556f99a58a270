"""Stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test fetches get-pip.py from a host the machines here cannot reach, and caches
it as ~/.ansible/test/cache/get_pip_<version>.py; hack/run.sh puts this file there.
It does what get-pip.py does: run a pip that needs no installation (here the wheel
Python ships for ensurepip) to install pip itself, plus setuptools and wheel unless told
--no-setuptools / --no-wheel, into the interpreter running it. The packages come from PyPI.
"""

import glob
import os
import sys

import ensurepip


def main():
    args = sys.argv[1:]
    extras = []
    for name in ("setuptools", "wheel"):
        flag = "--no-%s" % name
        if flag in args:
            args.remove(flag)
        else:
            extras.append(name)
    bundled = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"))
    if not bundled:
        sys.exit("get_pip stand-in: this Python has no bundled pip wheel (ensurepip)")
    sys.path.insert(0, bundled[0])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    return pip_main(["install", "--upgrade", "--force-reinstall"] + args + extras)


if __name__ == "__main__":
    sys.exit(main())
