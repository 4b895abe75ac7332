"""The paper's Tables 1-4 and Figures 1-2 by one command: `sketchjax-experiments`.

- `presets`: the tables' columns and the scales (smoke, cpu, cpu-conv, paper);
- `paper_numbers`: the paper's own numbers, shown beside ours at paper scale;
- `runs`: a run = (column, model, dataset, density, seed), named by a hash of its config;
- `runner`: masks from `sketchjax.make_mask`, stacked training of a cell's seeds, records;
- `estimate`: the time of the pending runs from measured throughput (`--dry-run`);
- `report`, `claims`, `figures`: the tables, the ten claims' verdicts, the figures;
- `reproduce`: the whole job behind the CLI; `run`: the CLI.
"""
