"""The table renderer and the claims on synthetic records: exact text, exact verdicts."""
import math

from experiments import claims
from experiments.report import Stats, render_csv, render_markdown, table_cells

SETTINGS = [("resnet20", "cifar10")]


def synthetic():
    v = {("resnet20", "cifar10", 1.0, "Dense"): [91.0, 92.0, 93.0],
         ("resnet20", "cifar10", 0.1, "SynFlow"): [80.0, 81.0, 82.0],
         ("resnet20", "cifar10", 0.1, "SynFlow + rand. mask"): [84.0, 85.0, 86.0],
         ("resnet20", "cifar10", 0.1, "SynFlow + chi"): [80.5],
         ("resnet20", "cifar10", 0.1, "SynFlow + rand. mask + chi"): [80.0, 81.5]}
    return v


def test_stats_and_difference():
    s = Stats.of([80.0, 81.0, 82.0])
    assert (s.mean, s.std, s.n) == (81.0, 1.0, 3)
    assert math.isclose(s.se, 1 / math.sqrt(3))
    assert Stats.of([]) is None and math.isnan(Stats.of([1.0]).se)


def test_table_text_is_exact():
    cells = table_cells("table3", SETTINGS, [0.1], synthetic(), with_paper=False)
    text = render_markdown("table3", cells, note="note")
    expected = (
        "## Table 3: SynFlow and mask randomization\n\nnote\n\n"
        "| Model | Density | SynFlow | SynFlow + rand. mask |\n"
        "|---|---|---|---|\n"
        "| ResNet-20 / CIFAR-10 | dense | 92.00 ± 1.00 (3) | |\n"
        "|  | 10% | 81.00 ± 1.00 (3) | 85.00 ± 1.00 (3) Δ +4.00* |\n\n"
        "Test accuracy in %, mean ± sample std over seeds (n). Δ: difference to the column's "
        "deterministic twin (SynFlow + rand. mask vs SynFlow), * where it exceeds two standard "
        "errors (none with one seed). The dense row is the unpruned network (one value per "
        "model).\n")
    assert text == expected
    csv = render_csv("table3", cells).splitlines()
    assert csv[0].startswith("table,model,dataset,density,column,mean,std,n,twin,diff")
    assert csv[3] == ("table3,resnet20,cifar10,0.1,SynFlow + rand. mask,85.0000,1.0000,3,"
                      "SynFlow,4.0000,0.8165,True,,")


def test_markers_need_two_standard_errors_and_two_seeds():
    cells = {c["column"]: c for c in table_cells("table1", SETTINGS, [0.1], synthetic(), False)
             if c["density"] == 0.1}
    # +0.25 with one seed on a side: no standard error, no marker.
    assert cells["SynFlow + rand. mask + chi"]["diff"] == 0.25
    assert cells["SynFlow + rand. mask + chi"]["significant"] is None
    assert cells["SNIP + normal data"]["stats"] is None
    text = render_markdown("table1", list(cells.values()))
    assert "80.75 ± 1.06 (2) Δ +0.25 |" in text and "| - |" in text


def test_paper_numbers_stand_beside_ours():
    cells = table_cells("table1", SETTINGS, [0.1], synthetic(), with_paper=True)
    synflow = next(c for c in cells if c["column"] == "SynFlow" and c["density"] == 0.1)
    assert synflow["paper"] == (86.55, 0.18)
    assert "81.00 ± 1.00 (3) [paper 86.55 ± 0.18]" in render_markdown("table1", cells)


def test_claim_verdicts():
    cells = {"table1": table_cells("table1", SETTINGS, [0.1], synthetic(), False)}
    verdicts = {v.number: v for v in claims.table_claims(cells)}
    assert verdicts[1].verdict == claims.HOLDS                   # +4.00 ± 0.82
    assert "+4.00 ± 0.82 points over 1 cells (1 significantly better" in verdicts[1].numbers
    # chi vs ones: one seed on a side, not resolved; rand + chi vs rand: -4.25, significant.
    assert verdicts[2].verdict == claims.FAILS
    assert "SynFlow + rand. mask + chi - SynFlow + rand. mask = -4.25" in verdicts[2].numbers
    assert claims._better(5.0, math.nan) == claims.UNRESOLVED
    assert verdicts[3].verdict == claims.NOT_RUN                 # no SNIP runs
    # "at least as good": a loss beyond two standard errors fails, a small one does not.
    worse = dict(synthetic())
    worse[("resnet20", "cifar10", 0.1, "SynFlow + chi")] = [70.0, 71.0, 72.0]
    worse[("resnet20", "cifar10", 0.1, "SynFlow + rand. mask + chi")] = [84.0, 85.0, 86.0]
    cells = {"table1": table_cells("table1", SETTINGS, [0.1], worse, False)}
    assert {v.number: v for v in claims.table_claims(cells)}[2].verdict == claims.FAILS
    close = dict(worse)
    close[("resnet20", "cifar10", 0.1, "SynFlow + chi")] = [80.0, 80.5, 81.0]
    cells = {"table1": table_cells("table1", SETTINGS, [0.1], close, False)}
    assert {v.number: v for v in claims.table_claims(cells)}[2].verdict == claims.HOLDS
