r"""The quick start over seeds and thread counts: the table of
``configs/quickstart/README.md`` (each run trains and tests in a fresh
interpreter; several invocations fill one table; a failed run gives its
claim back). Arguments: ``--help``; the code:
``stmixer_mm/apps/cli/quickstart_table.py``::

    python tools/experiments/quickstart_table.py --seeds 0 1 2 \
        --threads 1 2 --out-dir work_dirs/quickstart_table --stated 0.982
"""
from stmixer_mm.apps.cli.quickstart_table import main

if __name__ == '__main__':
    main()
