"""No pinned dependency carries a vulnerability PyPI knows of.

`make audit` runs pip-audit, which asks PyPI about each pinned release (`/pypi/<name>/<version>/json`) or
OSV. Neither answers on the build machines: the per-release address is 404 and api.osv.dev does not
resolve. PyPI's project address does answer, with the vulnerabilities of the project's newest release
(the same OSV records pip-audit reads). So this audit is exact for every pin that is the newest release,
and for a pin held back (numpy, scipy, contourpy and Deprecated need Python 3.12 for their newest,
schemathesis caps jsonschema_rs) it counts every vulnerability of the newest release not fixed at or
before the pin: those reach back to the pin. A vulnerability fixed in a release after such a pin is not
in what PyPI answers here; pip-audit finds it where OSV is reachable.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.version import InvalidVersion, Version

CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints.txt"
PYPI = "https://pypi.org/pypi/{name}/json"


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version


def pins(text: str) -> list[Pin]:
    found = []
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            found.append(Pin(name.strip(), Version(version.strip())))
    return found


def affecting(pin: Pin, project: dict[str, Any]) -> list[str]:
    """The vulnerabilities PyPI lists for the newest release that reach back to the pinned one."""
    newest = Version(project["info"]["version"])
    found = []
    for record in project.get("vulnerabilities") or []:
        if record.get("withdrawn"):
            continue
        fixes = []
        for fixed in record.get("fixed_in") or []:
            try:
                fixes.append(Version(fixed))
            except InvalidVersion:
                continue
        if pin.version == newest or not any(fix <= pin.version for fix in fixes):
            fixed_in = ", ".join(str(fix) for fix in sorted(fixes)) or "no release yet"
            found.append(f"{pin.name} {pin.version}: {record['id']} (fixed in {fixed_in})")
    return found


def fetch(client: httpx.Client, pin: Pin) -> dict[str, Any]:
    response = client.get(PYPI.format(name=pin.name))
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def projects() -> dict[Pin, dict[str, Any]]:
    pinned = pins(CONSTRAINTS.read_text())
    try:
        with httpx.Client(timeout=20.0, follow_redirects=True) as client:
            client.get(PYPI.format(name="pip")).raise_for_status()
            with ThreadPoolExecutor(max_workers=16) as pool:
                return dict(zip(pinned, pool.map(lambda pin: fetch(client, pin), pinned), strict=True))
    except httpx.HTTPError as error:
        pytest.skip(f"PyPI's JSON API is not reachable from here ({error!r}); `make audit` needs it too")


def test_every_dependency_is_pinned_to_one_release() -> None:
    pinned = pins(CONSTRAINTS.read_text())
    assert len(pinned) > 50
    assert {pin.name.lower() for pin in pinned} >= {"fastapi", "sqlmodel", "scikit-learn", "uvicorn", "websockets"}


def test_no_pinned_release_has_a_known_vulnerability(projects: dict[Pin, dict[str, Any]]) -> None:
    found = [line for pin, project in projects.items() for line in affecting(pin, project)]
    assert not found, "known vulnerabilities in constraints.txt; raise the pins (`make lock`):\n" + "\n".join(found)


def test_the_audit_finds_a_vulnerability_that_is_there() -> None:
    """The records as PyPI gives them (pycrypto 2.6.1, its newest release, has two unfixed CVEs)."""
    project = {
        "info": {"version": "2.6.1"},
        "vulnerabilities": [
            {"id": "PYSEC-2017-94", "fixed_in": [], "withdrawn": None},
            {"id": "GHSA-old", "fixed_in": ["2.0"], "withdrawn": None},
            {"id": "GHSA-gone", "fixed_in": [], "withdrawn": "2020-01-01T00:00:00"},
        ],
    }
    assert affecting(Pin("pycrypto", Version("2.6.1")), project) == [
        "pycrypto 2.6.1: PYSEC-2017-94 (fixed in no release yet)",
        "pycrypto 2.6.1: GHSA-old (fixed in 2.0)",
    ]
    # A pin behind the newest: what was fixed at or before it no longer counts.
    assert affecting(Pin("pycrypto", Version("2.1")), project) == [
        "pycrypto 2.1: PYSEC-2017-94 (fixed in no release yet)"
    ]
    assert affecting(Pin("pycrypto", Version("1.9")), project) == [
        "pycrypto 1.9: PYSEC-2017-94 (fixed in no release yet)",
        "pycrypto 1.9: GHSA-old (fixed in 2.0)",
    ]
