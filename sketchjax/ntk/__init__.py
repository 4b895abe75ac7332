"""NTK tools built on neural-tangents: Jacobian column norms, the NTK-parameterised MLP with its
analytic kernel, and the terms of Theorem 7.2. `python -m sketchjax.ntk.verify_linear` and
`python -m sketchjax.ntk.verify_theorem72` check the paper's statements numerically;
`ntk.checks` holds their Check record, the outputs and the runner (the `ntk` extra).

Only `ntk._compat` imports neural-tangents (and, through it, TensorFlow); `ntk.jacobian`
does not, so the column norms stay importable without it.
"""
