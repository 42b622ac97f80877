"""Helpers of the experiment drivers (``tools/experiments/``): each step is
a tool run in a subprocess with a fixed number of threads, its output in a
log file."""
import os
import subprocess
import time
from typing import Dict, Optional, Sequence


def experiment_env(threads: int,
                   pythonpath: Optional[str] = None,
                   cuda: bool = False) -> Dict[str, str]:
    """This process's environment with ``threads`` OpenMP / MKL threads, no
    CUDA device (unless ``cuda``) and ``pythonpath`` first on
    ``PYTHONPATH``."""
    env = dict(
        os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if not cuda:
        env['CUDA_VISIBLE_DEVICES'] = ''
    if pythonpath:
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (pythonpath, env.get('PYTHONPATH')) if p)
    return env


def run_logged(cmd: Sequence[str], cwd: str, env: Dict[str, str],
               log: str) -> float:
    """Run ``cmd`` in ``cwd`` with its output in ``log``; return its wall
    time (s). A non-zero exit stops the driver (``SystemExit``) with the
    tail of the log."""
    print(f'$ {" ".join(cmd)}  (log: {log})', flush=True)
    start = time.time()
    with open(log, 'w') as f:
        proc = subprocess.run(
            list(cmd), cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-4000:]
        raise SystemExit(f'{cmd[1]} exited with {proc.returncode}; the tail '
                         f'of {log}:\n{tail}')
    return time.time() - start
