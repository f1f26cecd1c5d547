"""HiGHS as the engine sets it up: a block's MIP stage is never called solved below a plan known to be feasible.

The stage stored here is the medium tier of a transformer block (1.5e6-edge bench scenario, seed 21, supply x0.6;
3,616 columns, 3,482 of them whole pack-class units), with the critical and high tiers held as the engine holds
them. ``start`` is a plan feasible to 1e-9 in every row and bound: it serves 350,199.7 medium-tier people, and
the LP relaxation 357,379.4 (HiGHS at 1e-9 finds 353,906 in 5 s). At HiGHS's default MIP feasibility tolerance
(1e-6), HiGHS 1.16.0 returned 173,838 with its dual bound equal, "optimal" at the root node.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import highspy
import numpy as np
import scipy.sparse as sp

from aidpack.allocation.solve import new_highs

DATA = Path(__file__).parent / "data"
START_PEOPLE = 350_199.7


def stage_model(tmp_path: Path) -> Path:
    path = tmp_path / "stage.mps"
    path.write_bytes(gzip.decompress((DATA / "transformer-medium-stage.mps.gz").read_bytes()))
    return path


def test_the_stored_start_is_feasible_and_serves_what_the_test_says(tmp_path: Path) -> None:
    h = new_highs()
    h.readModel(str(stage_model(tmp_path)))
    lp = h.getLp()
    start = np.load(DATA / "transformer-medium-stage-start.npz")["start"]
    matrix = sp.csc_matrix(
        (np.asarray(lp.a_matrix_.value_), np.asarray(lp.a_matrix_.index_), np.asarray(lp.a_matrix_.start_)),
        shape=(lp.num_row_, lp.num_col_),
    )
    activity = matrix @ start
    assert np.all(activity >= np.asarray(lp.row_lower_) - 1e-9)
    assert np.all(activity <= np.asarray(lp.row_upper_) + 1e-9)
    assert np.all(start >= np.asarray(lp.col_lower_) - 1e-9)
    assert np.all(start <= np.asarray(lp.col_upper_) + 1e-9)
    whole = np.array([kind == highspy.HighsVarType.kInteger for kind in lp.integrality_])
    assert np.array_equal(start[whole], np.rint(start[whole]))
    assert -float(np.asarray(lp.col_cost_) @ start) > START_PEOPLE


def test_highs_as_the_engine_sets_it_up_never_bounds_a_stage_below_a_feasible_plan(tmp_path: Path) -> None:
    h = new_highs()
    h.readModel(str(stage_model(tmp_path)))
    h.setOptionValue("mip_rel_gap", 1e-4)
    h.setOptionValue("time_limit", 1.0)
    h.run()
    info = h.getInfo()
    served, bound = -float(info.objective_function_value), -float(info.mip_dual_bound)
    # The dual bound holds for every whole-unit plan, the stored start included, however little time HiGHS had
    # (at the default tolerance: 173,838 people, "optimal").
    assert bound >= START_PEOPLE
    assert served <= bound + 1e-6 * bound
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        assert served >= START_PEOPLE
