"""``tools/quickstart.sh``: its environment variables, each checked before
anything runs (issue 83). ``QUICKSTART_CFG_OPTIONS='--seed 3'`` was refused
without saying which variable held it; ``--seed=3`` and ``seed=3`` were
accepted and ignored, ``randomness.seed=3`` lost to the script's ``--seed
0``, and the options reached the training but not the testing or the demo.
The quick start runs here with stand-ins for the set-up and the
interpreter (they record their calls: the ``quickstart_checkout`` fixture of
``conftest.py``)."""
import os
import subprocess

import pytest

from stmixer_mm.testing import repo_root


def _run(repo, **env):
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith('QUICKSTART_') and k != 'STMIXER_VENV'
    }
    environ.update(env, CALLS=str(repo / 'calls.txt'))
    return subprocess.run(
        ['bash', str(repo / 'tools' / 'quickstart.sh')],
        cwd=repo,
        env=environ,
        capture_output=True,
        text=True,
        # a guard against a hang, not a time limit: its refusals read the
        # config (mmengine's import), slow on a loaded machine
        timeout=600)


@pytest.mark.parametrize('env,expected', [
    (dict(QUICKSTART_CFG_OPTIONS='--seed 3'),
     "quickstart: QUICKSTART_CFG_OPTIONS='--seed 3': '--seed' is a "
     'command-line flag; expected config overrides only, KEY=VALUE separated '
     'by spaces (e.g. train_cfg.max_epochs=2); for the seed set '
     'QUICKSTART_SEED'),
    (dict(QUICKSTART_CFG_OPTIONS='train_cfg.max_epochs=2 --amp'),
     "quickstart: QUICKSTART_CFG_OPTIONS='train_cfg.max_epochs=2 --amp': "
     "'--amp' is a command-line flag; expected config overrides only"),
    (dict(QUICKSTART_SEED='three'),
     "quickstart: QUICKSTART_SEED='three': expected an int in [0, 2**32 - "
     '1] (the training seed, tools/train.py --seed)'),
    (dict(QUICKSTART_SEED='-1'),
     "quickstart: QUICKSTART_SEED='-1': expected an int"),
    (dict(QUICKSTART_SEED='4294967296'),
     "quickstart: QUICKSTART_SEED='4294967296': expected an int"),
    (dict(QUICKSTART_CFG_OPTION='train_cfg.max_epochs=2'),
     'quickstart: QUICKSTART_CFG_OPTION is set, but the quick start reads '
     'only QUICKSTART_CFG_OPTIONS and QUICKSTART_SEED (a misspelling?); '
     'unset it'),
])
def test_a_bad_variable_is_refused_naming_it_before_anything(
        quickstart_checkout, env, expected):
    repo = quickstart_checkout
    proc = _run(repo, **env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(expected), \
        proc.stderr
    assert proc.stdout == ''  # not even the set-up
    assert not (repo / 'calls.txt').exists()


def test_the_seed_and_the_options_reach_every_tool(quickstart_checkout):
    """``*`` stays a ``*`` (no glob expansion of the variable)."""
    repo = quickstart_checkout
    (repo / 'tools' / 'a_file').write_text('')
    options = 'train_cfg.max_epochs=1 model.note=*'
    proc = _run(repo, QUICKSTART_CFG_OPTIONS=options, QUICKSTART_SEED='7')
    assert proc.returncode == 0, proc.stderr
    calls = (repo / 'calls.txt').read_text().splitlines()
    check = [c for c in calls if c.startswith('- configs/quickstart/')]
    assert len(check) == 1 and check[0].endswith(f' {options}')
    for tool in ('tools/train.py', 'tools/test.py', 'tools/demo.py'):
        call = [c for c in calls if c.startswith(tool)]
        assert len(call) == 1 and f'--cfg-options {options}' in call[0], \
            calls
    assert ' --seed 7 ' in [c for c in calls if 'train.py' in c][0]


#: the quick start's config, as the checks name it
QS_CFG = ('configs/quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_'
          'synthetic-ava-rgb.py')

#: a late value: read when the Runner builds the loop, after the data
LATE = ('train_cfg.max_epoch=2', f'quickstart: {QS_CFG} with '
        'QUICKSTART_CFG_OPTIONS: train_cfg.max_epoch: EpochBasedTrainLoop '
        "takes no 'max_epoch'")


@pytest.mark.slow  # an interpreter importing stmixer_mm
@pytest.mark.parametrize(
    'options,expected',
    [('seed=3', f"quickstart: QUICKSTART_CFG_OPTIONS 'seed=...': {QS_CFG} "
      "has no 'seed', so it would be ignored; expected keys of the config"),
     ('randomness.seed=3', "quickstart: QUICKSTART_CFG_OPTIONS "
      "'randomness.seed=...': the seed is QUICKSTART_SEED"), LATE])
def test_a_key_the_quick_start_would_ignore_is_refused(quickstart_checkout,
                                                       options, expected):
    import sys
    repo = quickstart_checkout
    os.symlink(os.path.join(repo_root(), 'configs'), repo / 'configs')
    proc = _run(
        repo,
        QUICKSTART_CFG_OPTIONS=options,
        STMIXER_VENV=os.path.dirname(os.path.dirname(sys.executable)),
        OMP_NUM_THREADS='1')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(expected), \
        proc.stderr
    assert 'generating' not in proc.stdout
