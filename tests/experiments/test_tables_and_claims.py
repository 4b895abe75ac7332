"""The table renderer and the claims on synthetic per-seed records: exact text, exact verdicts."""
import math

from sketchjax.experiments import claims
from sketchjax.experiments.report import Finished, render_csv, render_markdown, table_cells
from sketchjax.experiments.stats import Sample

SETTINGS = [("resnet20", "cifar10")]
R = ("resnet20", "cifar10")


def finished(accuracy, density=None):
    """Finished runs from {(model, dataset, density, column): [accuracy per seed]}."""
    acc = {k: dict(enumerate(v)) for k, v in accuracy.items()}
    dens = {k: {s: (k[2], k[2]) for s in v} for k, v in acc.items()}
    for k, v in (density or {}).items():
        dens[k] = dict(enumerate(v))
    return Finished(acc, dens)


def synthetic():
    return {(*R, 1.0, "Dense"): [91.0, 92.0, 93.0],
            (*R, 0.1, "SynFlow"): [80.0, 81.0, 82.0],
            (*R, 0.1, "SynFlow + rand. mask"): [84.0, 85.5, 85.5],
            (*R, 0.1, "SynFlow + chi"): [80.5],
            (*R, 0.1, "SynFlow + rand. mask + chi"): [80.0, 81.5]}


def test_table_text_is_exact():
    cells = table_cells("table3", SETTINGS, [0.1], finished(synthetic()), with_paper=False)
    text = render_markdown("table3", cells, note="note")
    expected = (
        "## Table 3: SynFlow and mask randomization\n\nnote\n\n"
        "| Model | Density | SynFlow | SynFlow + rand. mask |\n"
        "|---|---|---|---|\n"
        "| ResNet-20 / CIFAR-10 | dense | 92.00 ± 1.00 (3) | |\n"
        "|  | 10% | 81.00 ± 1.00 (3) | 85.00 ± 0.87 (3) Δ +4.00* |\n\n"
        "Test accuracy in %, mean ± sample std over seeds (n). Δ: paired difference to the "
        "column's deterministic twin (SynFlow + rand. mask vs SynFlow), * where its 95% interval "
        "excludes 0 (none with one seed). @x%: the cell's realised density, shown where it is "
        "off the nominal one by more than 2% of it. The dense row is the unpruned network. "
        "Per-seed accuracies and densities: the .csv and .json beside this file.\n")
    assert text == expected


def test_csv_has_one_row_per_seed_with_its_density():
    runs = finished(synthetic(), {(*R, 0.1, "SynFlow"): [(0.1, 0.1), (0.1, 0.1),
                                                         (0.10001, 0.1)]})
    rows = render_csv("table3", table_cells("table3", SETTINGS, [0.1], runs, False)).splitlines()
    assert rows[0] == ("table,model,dataset,density,column,seed,accuracy,realised_density,"
                       "realised_density_pruned_layers,mean,std,n,twin,diff,diff_lo,diff_hi,"
                       "significant,paper_mean,paper_std")
    assert len(rows) == 1 + 3 + 3 + 3                  # dense, SynFlow, rand. mask: 3 seeds
    assert rows[6] == ("table3,resnet20,cifar10,0.1,SynFlow,2,82.0000,0.10001,0.1,81.0000,"
                       "1.0000,3,,,,,,,")
    # The paired interval of +4.00: differences 4, 4.5, 3.5 -> se 0.2887, t(2) = 4.3027.
    lo, hi = 4.0 - 4.302652729911275 * 0.5 / math.sqrt(3), 4.0 + 4.302652729911275 * 0.5 / \
        math.sqrt(3)
    assert rows[7].endswith(f"SynFlow,4.0000,{lo:.4f},{hi:.4f},True,,")


def test_realised_density_is_shown_where_it_is_off_the_nominal_one():
    runs = finished(synthetic(), {(*R, 0.1, "SynFlow + rand. mask"): [(0.107, 0.086)] * 3})
    text = render_markdown("table3", table_cells("table3", SETTINGS, [0.1], runs, False))
    assert "85.00 ± 0.87 (3) @10.70% Δ" in text and "81.00 ± 1.00 (3) |" in text


def test_one_seed_shows_n_1_and_no_marker():
    cells = {c["column"]: c for c in table_cells("table1", SETTINGS, [0.1],
                                                 finished(synthetic()), False)
             if c["density"] == 0.1}
    assert cells["SynFlow + rand. mask + chi"]["diff"] == 0.25
    assert cells["SynFlow + rand. mask + chi"]["significant"] is None
    assert cells["SNIP + normal data"]["sample"] is None
    text = render_markdown("table1", list(cells.values()))
    assert "| 80.50 (n = 1) |" in text and "80.75 ± 1.06 (2) Δ +0.25 |" in text
    assert "| - |" in text


def test_paper_numbers_stand_beside_ours():
    cells = table_cells("table1", SETTINGS, [0.1], finished(synthetic()), with_paper=True)
    synflow = next(c for c in cells if c["column"] == "SynFlow" and c["density"] == 0.1)
    assert synflow["paper"] == (86.55, 0.18)
    assert "81.00 ± 1.00 (3) [paper 86.55 ± 0.18]" in render_markdown("table1", cells)


# ----------------------------------------------------------------------------- verdicts

def columns(table, values):
    """table -> column -> cell -> Sample from {(density, column): [per seed]} on R."""
    out = {}
    for (density, column), v in values.items():
        out.setdefault(table, {}).setdefault(column, {})[(*R, density)] = \
            Sample.of_seeds(dict(enumerate(v)))
    return out


NO_PAPER = {}


def test_better_holds_fails_or_is_smaller_than_the_papers():
    up = columns("table1", {(0.1, "SynFlow"): [80, 81, 82], (0.1, "SynFlow + rand. mask"):
                            [81, 82, 83.5]})
    v = claims.table_claims(up, NO_PAPER)[0]
    assert v.number == 1 and v.verdict == claims.HOLDS
    down = columns("table1", {(0.1, "SynFlow"): [80, 81, 82], (0.1, "SynFlow + rand. mask"):
                              [79, 80, 80.5]})
    assert claims.table_claims(down, NO_PAPER)[0].verdict == claims.FAILS
    noisy = columns("table1", {(0.1, "SynFlow"): [80, 81, 82], (0.1, "SynFlow + rand. mask"):
                               [80, 81.5, 82.2]})
    assert claims.table_claims(noisy, NO_PAPER)[0].verdict == claims.UNRESOLVED
    # The paper's own effect (+3, printed summaries) lies above our interval: "smaller".
    paper = columns("table1", {(0.1, "SynFlow"): [80, 80, 80], (0.1, "SynFlow + rand. mask"):
                               [83, 83, 83]})
    v = claims.table_claims(noisy, paper)[0]
    assert v.verdict == claims.SMALLER and "paper +3.00" in v.numbers


def test_effects_of_opposite_sign_at_two_densities_give_depends_on_density():
    values = {(0.1, "SynFlow"): [80, 81, 82], (0.1, "SynFlow + rand. mask"): [83, 84, 85.5],
              (0.02, "SynFlow"): [60, 61, 62], (0.02, "SynFlow + rand. mask"): [55, 56.5, 57],
              (0.01, "SynFlow"): [40, 41, 42], (0.01, "SynFlow + rand. mask"): [90, 91, 92]}
    v = claims.table_claims(columns("table1", values), NO_PAPER)[0]
    assert v.verdict == claims.DEPENDS
    assert "over 2 cells" in v.numbers                 # 1% is outside the grid: not pooled
    assert any("1%" in d and "not pooled" in d for d in v.details)


def test_most_cells_counts_significant_cells_and_the_sign_test():
    grid = (0.1, 0.05, 0.02)
    better = {}
    for d in grid:
        better[(d, "SynFlow")] = [80, 81, 82]
        better[(d, "SynFlow + rand. mask + chi")] = [82, 83, 84.5]
        better[(d, "SNIP + normal data")] = [70, 71, 72]
        better[(d, "SNIP + sparse data + rand. mask")] = [67, 68, 68.5]
    v = claims.table_claims(columns("table1", better), NO_PAPER)[1]
    assert v.verdict == claims.FAILS       # SynFlow part holds (3 of 3); SNIP part: 3 worse
    assert "in 3 of 3 cells (3 significantly" in v.numbers
    assert "in 0 of 3 cells (0 significantly, 3 significantly worse" in v.numbers


def test_non_inferiority_uses_the_one_point_margin():
    def claim5(delta):
        values = {}
        for d in (0.1, 0.05, 0.02):
            values[(d, "GraSP + normal data")] = [80, 81, 82]
            values[(d, "GraSP + normal data + rand. mask")] = [80 + delta, 81.1 + delta,
                                                               81.9 + delta]
        return claims._pooled_test(columns("table2", values), NO_PAPER, "table2",
                                   "GraSP + normal data + rand. mask", "GraSP + normal data",
                                   0.95, claims.non_inferior_rule).verdict
    assert claim5(-0.3) == claims.HOLDS and claim5(-3.0) == claims.FAILS


def test_claim7_needs_its_own_setting():
    v = claims.table_claims(columns("table3", {(0.1, "SynFlow"): [1, 2, 3]}), NO_PAPER)[6]
    assert v.number == 7 and v.verdict == claims.NOT_RUN and "Tiny-ImageNet" in v.numbers


def test_claims_md_quotes_each_claims_sentence_under_its_heading():
    verdicts = claims.table_claims(columns("table1", {}), NO_PAPER)
    text = claims.render_claims(verdicts, "test")
    for v in verdicts:
        assert f"### Claim {v.number}\n\n> {claims.QUOTES[v.number]}\n" in text
    assert "| 1 | Table 1: SynFlow + rand. mask is better than SynFlow | **not run** |" in text


def test_small_effects_of_both_signs_inside_the_margin_are_comparable_not_density_dependent():
    values = {}
    for d, delta in ((0.1, 0.4), (0.05, 0.0), (0.02, -0.4)):
        values[(d, "GraSP + normal data")] = [80, 81, 82, 83, 84]
        values[(d, "GraSP + normal data + rand. mask")] = [80 + delta + e for e in
                                                           (0.0, 1.01, 1.99, 3.0, 4.0)]
    part = claims._pooled_test(columns("table2", values), NO_PAPER, "table2",
                               "GraSP + normal data + rand. mask", "GraSP + normal data",
                               0.95, claims.non_inferior_rule)
    assert part.verdict == claims.HOLDS
    # The same effects judged as *better* do change sign significantly across densities.
    part = claims._pooled_test(columns("table2", values), NO_PAPER, "table2",
                               "GraSP + normal data + rand. mask", "GraSP + normal data",
                               0.95, claims.better_rule)
    assert part.verdict == claims.DEPENDS


def test_a_cell_two_parts_list_is_listed_once_with_the_counts_mark():
    values = {}
    for d in (0.1, 0.05, 0.02):
        values[(d, "IMP + rand. data")] = [60, 61, 62, 63, 64]
        values[(d, "IMP + rand. data + rand. mask")] = [50, 51.2, 51.9, 53, 54]
    v = claims.table_claims(columns("table2", values), NO_PAPER)[4]
    imp = [line for line in v.details if line.startswith("IMP + rand. data + rand. mask")]
    assert len(imp) == 3 and all(line.endswith(claims.HOLM_MARK) for line in imp)
    assert v.verdict == claims.FAILS
