"""Print the versions of the stack and the compat fixes applied.

    python tools/misc/collect_env.py
    mim run stmixer_mm collect_env
"""
from stmixer_mm.apps.collect_env import main

if __name__ == '__main__':
    main()
