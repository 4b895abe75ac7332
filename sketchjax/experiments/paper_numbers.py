"""The paper's own numbers (Tables 1-4): test accuracy in %, mean and std over 3 seeds.

Keyed (table, model, dataset, density, column); shown beside ours at paper scale and fed to the
verdict rules in the calibration. Table 3 prints one number per cell: its std is None. In
Tables 1, 2 and 4 a cell printed without a std is a collapsed one at chance accuracy ("1.00" on
CIFAR-100, "10.0" on CIFAR-10): its std is 0, as the paper prints "1.0+-0.0" for another.
"""
from __future__ import annotations

from typing import Optional

Cell = tuple[float, Optional[float]]

T1_COLUMNS = ("SynFlow", "SynFlow + chi", "SynFlow + rand. mask", "SynFlow + rand. mask + chi",
              "SNIP + normal data", "SNIP + rand. mask + normal data", "SNIP + sparse data",
              "SNIP + sparse data + rand. mask")
T2_COLUMNS = ("Random", "Magnitude", "GraSP (supervised)", "GraSP + normal data",
              "GraSP + normal data + rand. mask", "IMP (supervised)", "IMP + rand. data",
              "IMP + rand. data + rand. mask")
T3_COLUMNS = ("SynFlow", "SynFlow + rand. mask")
T4_COLUMNS = ("SNIP (supervised)", "SNIP + sparse data + rand. mask")
DENSITIES = (0.1, 0.05, 0.02)


def _parse(text: str) -> Cell:
    parts = [p.strip() for p in text.replace("\\pm", "+-").replace("±", "+-").split("+-")]
    return float(parts[0]), (float(parts[1]) if len(parts) > 1 else None)


# Table 1, as printed: rows (model, density), one cell per column.
_T1 = {
    ("vgg19_bn", "cifar10"): [
        "93.01+-0.19 93.12+-0.12 93.06+-0.12 93.12+-0.18 92.15+-0.07 92.55+-0.57 92.85+-0.06 93.16+-0.36",
        "92.68+-0.11 92.52+-0.20 92.44+-0.11 92.63+-0.2 91.53+-0.04 92.18+-0.78 92.02+-0.18 92.79+-0.78",
        "91.68+-0.28 91.32+-0.11 91.63+-0.16 91.71+-0.28 90.35+-0.31 91.04+-0.14 90.97+-0.11 92.03+-0.91"],
    ("resnet20", "cifar10"): [
        "86.55+-0.18 86.70+-0.32 86.74+-0.22 86.59+-0.29 85.69+-0.37 86.77+-0.41 85.85+-0.07 87.02+-0.65",
        "83.19+-0.36 83.28+-0.31 83.55+-0.38 83.45+-0.42 82.37+-0.69 83.59+-0.4 82.29+-0.01 83.72+-0.73",
        "77.06+-0.35 77.10+-0.12 77.74+-0.51 77.74+-0.43 77.2+-0.56 78.99+-0.73 76.98+-0.66 79.39+-0.49"],
    ("vgg19_bn", "cifar100"): [
        "69.90+-0.26 69.84+-0.15 69.97+-0.43 70.24+-0.29 72.75+-0.22 72.67+-0.01 72.13+-0.08 72.49+-0.33",
        "68.25+-0.66 68.39+-0.31 68.65+-0.33 68.32+-0.08 71.48+-0.72 71.34+-0.03 71.05+-0.11 71.51+-0.45",
        "65.98+-0.38 65.68+-0.23 65.87+-0.50 66.00+-0.22 1.00 1.00 48.48+-13.88 53.05+-15.38"],
    ("resnet20", "cifar100"): [
        "50.66+-0.78 50.97+-0.51 52.29+-0.64 51.80+-0.60 66.90+-0.33 67.11+-0.62 67.32+-0.13 67.52+-0.10",
        "41.12+-0.92 40.87+-0.76 42.92+-0.53 42.44+-0.48 60.97+-0.45 61.03+-0.03 61.94+-0.60 62.68+-0.32",
        "23.39+-1.04 23.52+-0.27 24.89+-0.75 24.35+-0.72 47.61+-4.15 48.86+-0.07 50.30+-0.04 51.76+-0.36"],
}

# Table 2, as printed: one row per column, cells VGG-19 10/5/2% then ResNet-20 10/5/2%.
_T2 = {
    "cifar10": [
        "91.14+-0.08 89.24+-0.22 86.28+-0.04 85.04+-0.12 72.08+-1.38 10.0",
        "93.05+-0.22 92.23+-0.9 91.28+-0.43 84.88+-0.7 81.97+-0.52 75.15+-0.86",
        "92.21+-0.69 91.68+-1.21 90.92+-1.28 87.28+-0.04 84.37+-0.21 79.53+-0.06",
        "92.23+-0.95 91.23+-0.91 90.9+-1.63 86.3+-0.46 83.61+-0.13 79.59+-0.1",
        "92.12+-0.88 91.57+-1.1 91.22+-1.08 86.59+-0.29 84.35+-1.34 78.36+-0.16",
        "93.56+-0.19 92.64+-0.19 89.63+-1.57 89.63+-0.24 85.99+-1.3 82.46+-0.73",
        "91.53+-0.32 91.42+-0.19 90.58+-0.69 85.46+-0.11 83.07+-0.11 77.97+-0.04",
        "91.57+-0.03 91.45+-0.12 90.55+-0.7 85.5+-0.15 82.77+-0.13 77.54+-0.49"],
    "cifar100": [
        "66.02+-0.13 62.7+-0.57 58.28+-0.25 51.09+-0.43 26.61+-3.51 1.0+-0.0",
        "69.43+-0.49 68.09+-0.21 65.18+-0.47 52.03+-0.24 45.64+-0.4 32.9+-0.65",
        "70.64+-0.43 70.03+-0.55 67.78+-0.42 67.24+-0.23 63.08+-0.33 53.18+-0.94",
        "70.52+-0.18 70.06+-0.29 68.07+-0.16 67.37+-0.02 63.66+-0.06 54.15+-0.63",
        "71.15+-0.32 70.08+-0.01 68.53+-0.18 67.39+-0.46 64.34+-0.15 53.79+-0.16",
        "70.88+-0.96 69.87+-1.28 67.9+-1.36 58.38+-2.97 50.39+-0.16 40.88+-0.22",
        "66.84+-0.16 66.23+-0.17 54.81+-6.87 51.66+-0.68 43.84+-0.17 32.92+-0.65",
        "67.1+-0.21 65.3+-0.23 59.05+-0.14 52.05+-0.6 44.68+-0.38 33.37+-0.74"],
}

# Table 3 (Tiny-ImageNet, single numbers): (model, density) -> (SynFlow, SynFlow + random mask).
_T3 = {("resnet18", 0.1): (58.3, 60.64), ("resnet18", 0.05): (57.63, 58.57),
       ("resnet18", 0.02): (54.62, 55.56), ("wide_resnet18", 0.1): (59.25, 60.22),
       ("wide_resnet18", 0.05): (57.49, 58.84), ("wide_resnet18", 0.02): (54.8, 55.54)}

# Table 4: one row per column, cells VGG-19 10/5/2% then ResNet-20 10/5/2%.
_T4 = {
    "cifar10": ["92.62+-0.09 91.66+-0.25 90.92+-0.16 86.29+-0.92 82.55+-1.02 78.16+-0.8",
                "93.16+-0.36 92.79+-0.78 92.03+-0.91 87.02+-0.65 83.72+-0.73 79.39+-0.49"],
    "cifar100": ["71.80+-0.66 71.07+-0.23 56.05+-13.97 67.03+-0.04 61.80+-0.38 49.42+-0.65",
                 "72.49+-0.33 71.51+-0.45 53.05+-15.38 67.52+-0.10 62.68+-0.32 51.76+-0.36"],
}


def _collapsed_std(cell: Cell) -> Cell:
    return cell if cell[1] is not None else (cell[0], 0.0)


def _build() -> dict[tuple[str, str, str, float, str], Cell]:
    out: dict[tuple[str, str, str, float, str], Cell] = {}
    for (model, dataset), rows in _T1.items():
        for density, row in zip(DENSITIES, rows):
            for column, cell in zip(T1_COLUMNS, row.split()):
                out[("table1", model, dataset, density, column)] = _collapsed_std(_parse(cell))
    for table, source, columns in (("table2", _T2, T2_COLUMNS), ("table4", _T4, T4_COLUMNS)):
        for dataset, rows in source.items():
            for column, row in zip(columns, rows):
                cells = row.split()
                for i, cell in enumerate(cells):
                    model = "vgg19_bn" if i < 3 else "resnet20"
                    out[(table, model, dataset, DENSITIES[i % 3], column)] = \
                        _collapsed_std(_parse(cell))
    for (model, density), values in _T3.items():
        for column, value in zip(T3_COLUMNS, values):
            out[("table3", model, "tiny_imagenet", density, column)] = (value, None)
    return out


PAPER: dict[tuple[str, str, str, float, str], Cell] = _build()
