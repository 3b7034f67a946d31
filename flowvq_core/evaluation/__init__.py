"""Evaluation: judges this project did not train, on the pixels a viewer sees, and the synthetic-corpus checks.

- ``synthetic``: the generator against the synthetic corpus it was built from (debugging training, not quality).
"""
