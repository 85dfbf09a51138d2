#!/usr/bin/env python3
"""Write tests/compat/os_grains.json: the distribution grains Salt itself
gives for the release files of halite's platform test hosts
(tests/fleet/platforms/*) and of a few more distributions.

For each case, `salt-call --local grains.items` runs in a private mount
namespace whose /etc is a copy of this machine's with the release files
replaced by the case's (/etc/os-release and friends; Debian's own markers
removed), so the answer is Salt's own reading of those files, not ours.
halite's grains are checked against it by the unit test
`grains::tests::os_grains_match_salt` and, on the live hosts, by
tests/platforms.rs.

Run as root (unshare, mount) with the Salt release the fixture names:

    /var/tmp/saltvenv/bin/python tests/compat/gen_os_grains.py
"""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import saltcall  # noqa: E402

HERE = pathlib.Path(__file__).parent
PLATFORMS = HERE.parent / "fleet" / "platforms"
OUT = HERE / "os_grains.json"

# The grains compared; the rest describe the machine Salt ran on.
KEYS = ["os", "os_family", "osfullname", "oscodename", "osrelease",
        "osrelease_info", "osmajorrelease", "osfinger"]

# Debian bookworm's os-release, as the openrc and sysv hosts keep it.
DEBIAN_12 = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

ROCKY_RELEASE = "Rocky Linux release 9.3 (Blue Onyx)\n"

# Name -> {file under /etc: content}. The platform hosts' files are read
# from their build inputs, so the fixture follows them.
CASES = {
    "rhel": {"os-release": (PLATFORMS / "rhel/os-release").read_text(),
             "rocky-release": ROCKY_RELEASE, "redhat-release": ROCKY_RELEASE,
             "system-release": ROCKY_RELEASE},
    "suse": {"os-release": (PLATFORMS / "suse/os-release").read_text()},
    "arch": {"os-release": (PLATFORMS / "arch/os-release").read_text(),
             "arch-release": ""},
    "openrc": {"os-release": DEBIAN_12, "debian_version": "12.11\n"},
    "sysv": {"os-release": DEBIAN_12, "debian_version": "12.11\n"},
    "almalinux-8": {"os-release": """NAME="AlmaLinux"
VERSION="8.9 (Midnight Oncilla)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"
PLATFORM_ID="platform:el8"
PRETTY_NAME="AlmaLinux 8.9 (Midnight Oncilla)"
CPE_NAME="cpe:/o:almalinux:almalinux:8::baseos"
"""},
    "fedora-39": {"os-release": """NAME="Fedora Linux"
VERSION="39 (Container Image)"
ID=fedora
VERSION_ID=39
VERSION_CODENAME=""
PLATFORM_ID="platform:f39"
PRETTY_NAME="Fedora Linux 39 (Container Image)"
CPE_NAME="cpe:/o:fedoraproject:fedora:39"
VARIANT="Container Image"
VARIANT_ID=container
"""},
    "sles-15": {"os-release": """NAME="SLES"
VERSION="15-SP5"
VERSION_ID="15.5"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp5"
"""},
    "tumbleweed": {"os-release": """NAME="openSUSE Tumbleweed"
# VERSION="20240101"
ID="opensuse-tumbleweed"
ID_LIKE="opensuse suse"
VERSION_ID="20240101"
PRETTY_NAME="openSUSE Tumbleweed"
CPE_NAME="cpe:/o:opensuse:tumbleweed:20240101"
"""},
    "manjaro": {"os-release": """NAME="Manjaro Linux"
PRETTY_NAME="Manjaro Linux"
ID=manjaro
ID_LIKE=arch
BUILD_ID=rolling
"""},
    "alpine-3.19": {"os-release": """NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.0
PRETTY_NAME="Alpine Linux v3.19"
""", "alpine-release": "3.19.0\n"},
}

# Release files of this machine that a case must not inherit.
MARKERS = ["os-release", "debian_version", "lsb-release", "redhat-release",
           "centos-release", "rocky-release", "system-release", "SuSE-release",
           "arch-release", "alpine-release"]


def salt_grains(files: dict, work: pathlib.Path) -> dict:
    etc = work / "etc"
    shutil.copytree("/etc", etc, symlinks=True)
    for name in MARKERS:
        (etc / name).unlink(missing_ok=True)
    for name, text in files.items():
        (etc / name).write_text(text)
    conf = saltcall.minion(work / "minion", [])
    # This machine's lsb_release hidden (an empty, non-executable file over
    # it): the `distro` library Salt uses would run it and answer "n/a"
    # where the test hosts, which have none, give no release.
    hide = work / "no-lsb_release"
    hide.write_text("")
    script = f"mount --bind {etc} /etc"
    if shutil.which("lsb_release"):
        script += f" && mount --bind {hide} {shutil.which('lsb_release')}"
    script += f" && exec {saltcall.SALT_CALL} -c {conf} --local --out json grains.items"
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         capture_output=True, text=True, check=True)
    grains = json.loads(out.stdout)["local"]
    return {k: grains[k] for k in KEYS if k in grains}


def main():
    cases = {}
    for name, files in CASES.items():
        with tempfile.TemporaryDirectory(prefix="gen-os-grains-") as tmp:
            cases[name] = {"files": files, "salt": salt_grains(files, pathlib.Path(tmp))}
        print(f"{name}: {cases[name]['salt']}", file=sys.stderr)
    OUT.write_text(json.dumps({"salt_version": saltcall.version(), "cases": cases},
                              indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
