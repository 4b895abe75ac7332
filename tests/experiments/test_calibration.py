"""Calibration: the verdict rules fed the paper's own Tables 1-4 (printed means and stds, n = 3)
give the verdicts docs/experiments.md lists; where they do not confirm the paper's sentence,
that is a finding about the paper's numbers, written there."""
import re
from pathlib import Path

from sketchjax.experiments import claims

DOCS = Path(__file__).resolve().parents[2] / "docs" / "experiments.md"
EXPECTED = {1: claims.HOLDS, 2: claims.HOLDS, 3: claims.UNRESOLVED, 4: claims.HOLDS,
            5: claims.UNRESOLVED, 6: claims.HOLDS, 7: claims.HOLDS}


def paper_verdicts():
    return {v.number: v for v in claims.table_claims(claims.paper_columns())}


def test_calibration_verdicts_on_the_papers_numbers():
    verdicts = paper_verdicts()
    assert {n: v.verdict for n, v in verdicts.items()} == EXPECTED
    # The numbers behind them (unpaired: the paper prints no per-seed values).
    assert "= +0.52 [+0.28, +0.77] (unpaired, n = 3) over 12 cells" in verdicts[1].numbers
    assert "in 11 of 12 cells" in verdicts[2].numbers and "p = 0.00317" in verdicts[2].numbers
    assert "SNIP + sparse data = +1.25 [-2.70, +5.19]" in verdicts[3].numbers
    assert "GraSP with random data keeps 1.00" in verdicts[6].numbers
    assert "IMP with random data keeps 0.71 [0.62, 0.81]" in verdicts[6].numbers
    assert "better in 6 of 6 cells, sign test p = 0.0156" in verdicts[7].numbers


def test_calibration_table_in_the_docs_matches_the_rules():
    text = DOCS.read_text()
    section = text[text.index("## Calibration"):]
    rows = dict(re.findall(r"^\| (\d+) \| [^|]+ \| \*\*([^*]+)\*\* \|", section, re.M))
    assert {int(n): v for n, v in rows.items()} == EXPECTED
