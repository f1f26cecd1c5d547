"""A loaded scenario for export tests: the ingest tests' base files with awkward values, and a plan's lines."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidpack.allocation.models import LineStatus, Plan
from aidpack.ingest.service import import_path
from aidpack.needs.models import Need
from aidpack.pledges.models import Pledge
from tests.factories import make_line, make_plan
from tests.ingest.scenario_files import base, set_cell, write_scenario

SCENARIO = 'name = "test-land"\nplan_date = 2022-11-29\ndescription = "a \\"quoted\\" test,\\nwith Київ"\n'
NOTES = 'line one, "quoted"\nline two'
RESTRICTED = ("H1", "Hospital 1")
CONSUMES = "DIESEL-L:648"  # what the generator burns a day: a round trip keeps it


def load(session: Session, folder: Path) -> Plan:
    """Import the scenario (flushes) and add a plan: one accepted and one proposed line."""
    files = base()
    set_cell(files["needs"], "N3", "notes", NOTES)
    files["catalogue"] = [row + [value] for row, value in zip(files["catalogue"], ["consumes", CONSUMES, "", ""],
                                                               strict=True)]
    files["organisations"].append(["DE", "Germany", "state", "DE"])  # a donor that is also a recipient
    files["donors"].append(["UA-MOH", "Ministry of Health of Ukraine", "", "UA"])  # an authority that donates
    import_path(session, path=write_scenario(folder, files, scenario_toml=SCENARIO), kind=None, actor="test")
    by_ref = {p.ref: p for p in session.execute(select(Pledge)).scalars()}
    needs = {n.ref: n for n in session.execute(select(Need)).scalars()}
    plan = make_plan(session)
    make_line(session, plan=plan, pledge=by_ref["P1"], need=needs["N1"], units=2, status=LineStatus.ACCEPTED)
    make_line(session, plan=plan, pledge=by_ref["P2"], need=needs["N2"], units=1000, status=LineStatus.PROPOSED)
    return plan
