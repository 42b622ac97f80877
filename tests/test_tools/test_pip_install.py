"""``pip install stmixer_mm`` in a fresh virtualenv, as a pip user without
the setup script does (docs/en/get_started.md, "Install with pip"): pip
brings two OpenCV wheels (mmengine requires ``opencv-python``, mmaction2
``opencv-contrib-python``); the import warns once and gives the one line
that keeps one, which is the documented line; after it one OpenCV is left,
``import stmixer_mm`` prints nothing and the console commands run.

The package is installed from a copy of the source tree (a build writes
``stmixer_mm/.mim`` into its source), torch at this environment's version
(a local CPU build on the project machines), mmcv from a local wheel
(``../shared/wheels/*``, as ``tools/setup_env.sh`` finds it): without one,
pip would compile mmcv's ops for about 36 minutes, and the test is
skipped.

Issue 84, point 2, from outside the repository: a command
and the Inferencer take ``stmixer_mm::quickstart/<config>.py`` and a model
name of the metafiles, a repo config copied out alone reads its ``_base_``
from the installed package (or, lacking one there too, names the packaged
config to pass), and a wrong name gives the closest names; checked in a
throw-away virtualenv that sees this environment's packages and has the
package installed into its own site-packages, not editable (about 20 s of
CPU), where the slow install is skipped too (the names do not depend on
how the dependencies came).
"""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest
import torch

from stmixer_mm.apps.cli.commands import TOOLS
from stmixer_mm.testing import copy_source_tree, repo_path, repo_root
from stmixer_mm.utils.dependencies import OPENCV_DISTS

REPO = repo_root()
PY_TAG = f'cp{sys.version_info.major}{sys.version_info.minor}'


def _mmcv_wheel_dirs():
    return sorted({
        osp.dirname(w)
        for w in glob.glob(
            osp.join(REPO, '..', 'shared', 'wheels', '*',
                     f'mmcv-2.1.0-{PY_TAG}-*.whl'))
    })


def _run(cmd, env, cwd, timeout=900, check=True):
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(cmd, str))
    assert proc.returncode == 0 or not check, (cmd, proc.stdout[-3000:],
                                               proc.stderr[-3000:])
    return proc


def _documented_fix():
    """The one-line fix of docs/en/get_started.md (Install with pip)."""
    with open(osp.join(REPO, 'docs', 'en', 'get_started.md')) as f:
        text = f.read()
    found = re.findall(r'^pip uninstall -y opencv-contrib-python && .*$', text,
                       re.M)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv_ends_with_one_opencv(tmp_path):
    wheel_dirs = _mmcv_wheel_dirs()
    if not wheel_dirs:
        pytest.skip(f'no local mmcv 2.1.0 wheel for {PY_TAG} under '
                    '../shared/wheels (pip would build its ops for ~36 min)')
    src = copy_source_tree(str(tmp_path / 'src'))
    venv = tmp_path / 'venv'
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHONPATH', 'VIRTUAL_ENV')
    }
    env.update(
        PATH=f'{venv / "bin"}{os.pathsep}{env["PATH"]}', OMP_NUM_THREADS='1')
    cwd = str(tmp_path)  # not the checkout: nothing imported from it
    _run([sys.executable, '-m', 'venv', str(venv)], env, cwd)
    # --no-compile: no .pyc of every installed module (torch's alone are
    # ~15 s here); the interpreter compiles what it imports, as without it
    pip = [
        str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q',
        '--no-compile'
    ]
    _run(pip + [f'torch=={torch.__version__.split("+")[0]}'], env, cwd)
    links = [a for d in wheel_dirs for a in ('--find-links', d)]
    _run(pip + links + [src], env, cwd)
    python = str(venv / 'bin' / 'python')

    def dists():
        out = _run([python, '-m', 'pip', 'list', '--format=freeze'], env,
                   cwd).stdout
        names = {line.split('==')[0].lower() for line in out.splitlines()}
        return sorted(names & set(OPENCV_DISTS))

    assert dists() == ['opencv-contrib-python', 'opencv-python']
    # each optional feature refused without its extra (_Extras), in
    # the interpreter whose import warns of the two OpenCVs
    extras = _Extras(pip + links, python, src, env, cwd, tmp_path)
    log = extras.refused()
    assert 'OpenCV distributions are installed' in log, log
    # the warning's fix is the documented line, at the installed version
    fix = re.search(r'(pip uninstall -y opencv-contrib-python && .*)$', log,
                    re.M).group(1)
    documented = _documented_fix()
    assert fix.split('opencv-python==')[0] == \
        documented.split('"opencv-python')[0]

    def one_opencv():
        _run(documented, env, cwd)
        assert dists() == ['opencv-python']

    one_opencv()
    # (with one OpenCV, `import stmixer_mm` prints nothing: checked by
    # the runs with the extras, whose interpreter imports it first)
    # (the config names and console commands of an installed package:
    # test_installed_package_takes_config_names_outside_the_repository)
    # pip check: only the lines docs/en/get_started.md explains, and the
    # decord this test removed for the refused runs
    check = _run([python, '-m', 'pip', 'check'], env, cwd, check=False)
    with open(osp.join(REPO, 'docs', 'en', 'get_started.md')) as f:
        docs = ' '.join(f.read().split())
    lines = check.stdout.strip().splitlines()
    removed = [line for line in lines if 'requires decord,' in line]
    assert len(removed) == 1, lines
    for line in lines:
        assert line in removed or ' '.join(line.split()) in docs, line
    extras.installed(one_opencv)


#: the quick-start config and a model name of the metafiles (its data set
#: has its classes in the config: the Inferencer needs no label map)
QUICK = 'stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb'
TUBES = 'stmixer_r3d-tiny_1xb8-8x2x1-6e_synthetic-tubes-rgb'
#: a repo config whose base is its sibling ``./QUICK.py``
BIFPN = 'stmixer-bifpn_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb'

#: run by the installed interpreter: ``run(command, *args)`` runs a console
#: script of its venv (the installed file of <venv>/bin) or, for command
#: ``python``, the code ``args[0]`` as ``python -c`` does, in this one
#: process (one import of the package); exit status, stdout and stderr as
#: a new interpreter gives them
RUN_SNIPPET = '''
import contextlib, io, json, os, runpy, sys, traceback

def run(command, *args):
    std, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(std), contextlib.redirect_stderr(err):
        try:
            if command == 'python':
                sys.argv = ['-c']
                exec(compile(args[0], '<string>', 'exec'),
                     dict(__name__='__main__'))
            else:
                sys.argv = [
                    os.path.join(os.path.dirname(sys.executable), command),
                    *args
                ]
                runpy.run_path(sys.argv[0], run_name='__main__')
        except SystemExit as e:
            code = e.code or 0
        except Exception:
            traceback.print_exc()
            code = 1
    if isinstance(code, str):  # what the interpreter prints on exit
        err.write(code + '\\n')
        code = 1
    return dict(rc=code, stdout=std.getvalue(), stderr=err.getvalue())
'''
#: in a folder outside the repository: the Inferencer from Python, then
#: the console scripts; prints one JSON object
NAMES_SNIPPET = RUN_SNIPPET + '''
import warnings
import stmixer_mm
from stmixer_mm.apis import STMixerInferencer
out = dict(package=stmixer_mm.__file__)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    inferencer = STMixerInferencer(sys.argv[1])
out['inferencer'] = dict(
    config=inferencer.cfg.filename,
    labels=list(inferencer.label_names.values()),
    warnings=[str(w.message) for w in caught])
try:
    STMixerInferencer(sys.argv[2])
except Exception as e:  # noqa: B902
    out['inferencer_wrong'] = f'{type(e).__name__}: {e}'
out['commands'] = [run(*line.split()) for line in sys.argv[3:]]
print(json.dumps(out))
'''
#: ``import stmixer_mm, cv2`` (its output not captured: the process's),
#: the OpenCV version, then the runs of a JSON list ``[[command, *args],
#: ...]``: one JSON list of their results
RUNS_SNIPPET = RUN_SNIPPET + '''
import stmixer_mm, cv2
print('cv2', cv2.__version__)
print(json.dumps([run(*r) for r in json.loads(sys.argv[1])]))
'''


def _check_config_names(python, env, folder):
    """Issue 84, point 2, with the package installed for ``python`` (not
    a checkout on the path), run in the new ``folder``; and every console
    command's ``--help``."""
    folder.mkdir()
    # a repo config copied out alone: its base ./QUICK.py is not beside it
    shutil.copy(repo_path('configs', 'quickstart', f'{BIFPN}.py'), folder)
    # the same, as a newer checkout could have it: a base the installed
    # package lacks too
    (folder / 'newer').mkdir()
    (folder / 'newer' / f'{BIFPN}.py').write_text(
        (folder / f'{BIFPN}.py').read_text().replace(
            f'./{QUICK}.py', './stmixer_r3d-tiny_new-base.py'))
    commands = [
        f'stmixer-check-dataset stmixer_mm::quickstart/{QUICK}.py',
        f'stmixer-check-dataset {TUBES}',
        f'stmixer-check-dataset {BIFPN}.py',
        f'stmixer-check-dataset newer/{BIFPN}.py',
        f'stmixer-test {BIFPN[:-4]} missing.pth',
        'stmixer-train stmixer_mm::quickstart/stmixer_r3d-tiny_36e.py',
    ] + [f'{command} --help' for command, _ in TOOLS.values()]
    proc = _run([python, '-c', NAMES_SNIPPET, TUBES, TUBES[:-5], *commands],
                env,
                str(folder),
                timeout=600)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # the installed package's, not a checkout's
    site = osp.dirname(osp.dirname(out['package']))
    assert osp.basename(site) == 'site-packages', out['package']
    checkout = osp.realpath(REPO) + os.sep
    assert not osp.realpath(out['package']).startswith(checkout), out
    packaged = osp.join(site, 'stmixer_mm', '.mim', 'configs', 'quickstart')
    # (1) a model name: the installed config, the metafile's (absent)
    # weights said, the config's classes
    inferencer = out['inferencer']
    assert inferencer['config'] == osp.join(packaged, f'{TUBES}.py')
    assert inferencer['labels'] == ['stand', 'crouch', 'walk', 'jump']
    assert any(f"the model '{TUBES}' has no weights in its metafile" in w
               for w in inferencer['warnings']), inferencer['warnings']
    by_name, by_model, copied, newer, test, train, *helps = out['commands']
    # every command the tools print (entry_points.TOOLS) is installed and
    # runs
    for command, run in zip(commands[-len(TOOLS):], helps, strict=True):
        assert run['rc'] == 0 and run['stdout'].startswith('usage: '), (
            command, run['stdout'][:300], run['stderr'][-2000:])
    # the checks ran on the packaged config: only the data is missing
    for run, data in ((by_name, 'data/synthetic_ava/annotations/train.csv'),
                      (by_model,
                       'data/synthetic_tubes/annotations/tubes_GT.pkl'),
                      (copied, 'data/synthetic_ava/annotations/train.csv')):
        assert run['rc'] == 1 and f'not found: {data}' in run['stdout'], run
        assert 'error: config' not in run['stderr'], run
    # (2) a copied config reads its base from the installed package ...
    warned = ' '.join(copied['stderr'].split())
    assert (f'its _base_ files {QUICK}.py are not beside it; read from the '
            f'packaged configs ({osp.join(packaged, QUICK)}.py)') in warned, \
        warned
    # ... or names what to pass
    assert newer['rc'] == 1 and newer['stdout'] == '', newer
    assert ' '.join(newer['stderr'].split()).endswith(
        'stmixer_mm ships no such base either; copy the config together '
        'with its _base_ folder (configs/ keeps them), give a packaged '
        f'config as stmixer_mm::quickstart/{BIFPN}.py, or inherit it in '
        f"your config: _base_ = 'stmixer_mm::quickstart/{BIFPN}.py'"), newer
    # (3) a wrong name: the closest names, the meant one first
    assert out['inferencer_wrong'].startswith(
        f"ConfigSettingError: config '{TUBES[:-5]}' is neither a config "
        'file nor a model name of '
        f"{osp.join(site, 'stmixer_mm', '.mim', 'model-index.yml')}"
    ), out['inferencer_wrong']
    assert f'; close names: {TUBES}, ' in out['inferencer_wrong']
    assert test['rc'] == 1 and test['stdout'] == '', test
    assert test['stderr'].startswith(
        f"stmixer-test: error: config '{BIFPN[:-4]}' is neither"), test
    assert f'; close names: {BIFPN}, ' in test['stderr'], test
    assert train['rc'] == 1 and train['stderr'].startswith(
        'stmixer-train: error: config stmixer_mm::quickstart/stmixer_r3d-'
        'tiny_'
        '36e.py: stmixer_mm ships no quickstart/stmixer_r3d-tiny_36e.py'
    ), train
    assert f'; close names: stmixer_mm::quickstart/{QUICK}.py' in \
        train['stderr'], train


@pytest.mark.slow
def test_installed_package_takes_config_names_outside_the_repository(tmp_path):
    """Issue 84, point 2 (:func:`_check_config_names`) without the slow
    install: ``pip install --no-deps`` of a copy of the source tree (a
    wheel, not editable) into a virtualenv whose ``.pth`` file adds this
    environment's packages after its own (as tests/test_tools/test_mim.py
    makes one)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHONPATH', 'VIRTUAL_ENV')
    }
    env.update(
        OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    cwd = str(tmp_path)
    src = copy_source_tree(str(tmp_path / 'src'))
    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], env, cwd)
    python = str(venv / 'bin' / 'python')
    site = _run([
        python, '-c', "import sysconfig; print(sysconfig.get_paths()"
        "['purelib'])"
    ], env, cwd).stdout.strip()
    with open(osp.join(site, 'outer.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    _run([
        python, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
        '--no-build-isolation', src
    ], env, cwd)
    _check_config_names(python, env, tmp_path / 'names')


#: a tube metric scored with TrackEval (the [tracking] extra)
TRACKEVAL_SNIPPET = '''
import numpy as np
from stmixer_mm.evaluation.functional.tube_identity import trackeval_metrics
frames = np.arange(1, 11)
boxes = np.array([[f, 10., 10, 50, 60] for f in frames])
gt = dict(labels=['a'], gttubes=dict(v={0: [boxes]}), nframes=dict(v=10),
          test_videos=[['v']], resolution=dict(v=(120, 160)))
det = np.concatenate([boxes, np.full((10, 1), 0.9)], axis=1)
scores = trackeval_metrics(gt, {0: [('v', 0.9, det)]}, ['v'], 0.5, ())
print('HOTA', scores['HOTA'])
'''
#: mmaction2's decord reader on a video PyAV writes (the [multisports] extra,
#: after the pre-run check of a MultiSports pipeline)
DECORD_SNIPPET = '''
import sys
import av, numpy as np
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.utils.checks import ConfigSettingError
pipeline = [dict(type='DecordInit'), dict(type='DecordDecode')]
try:
    check_config(dict(train_dataloader=dict(dataset=dict(pipeline=pipeline))))
except ConfigSettingError as e:
    sys.exit(f'error: {e}')
out = av.open('clip.mp4', 'w')
stream = out.add_stream('mpeg4', rate=25)
stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
for i in range(10):
    frame = np.full((48, 64, 3), 20 * i, np.uint8)
    for packet in stream.encode(av.VideoFrame.from_ndarray(frame)):
        out.mux(packet)
for packet in stream.encode():
    out.mux(packet)
out.close()
from mmaction.datasets.transforms import DecordDecode, DecordInit
results = DecordInit()(dict(filename='clip.mp4'))
results['frame_inds'] = np.array([0, 5, 9])
imgs = DecordDecode()(results)['imgs']
print('frames', results['total_frames'], [int(i.mean()) for i in imgs])
'''


class _Extras:
    """Issue 73, item 1: each optional feature, without its extra, stops
    before any work with an ``error:`` line naming the ``pip install`` to
    run (:meth:`refused`); with ``pip install "stmixer_mm[<extra>]"`` it
    runs (:meth:`installed`, after the one-OpenCV line again: the install
    brings the contrib wheel back, as docs/en/get_started.md says)."""

    def __init__(self, pip, python, src, env, cwd, tmp_path):
        from stmixer_mm.apis import init_detector
        from stmixer_mm.testing import TINY_CFG, repo_path
        self.pip, self.python, self.src = pip, python, src
        self.env, self.cwd = env, cwd
        checkpoint = str(tmp_path / 'tiny.pth')
        torch.manual_seed(0)
        model = init_detector(repo_path(TINY_CFG))
        torch.save(
            dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
        self.onnx_file = tmp_path / 'tiny.onnx'
        self.runs = {
            'onnx': [
                'stmixer-export-onnx',
                repo_path(TINY_CFG), checkpoint,
                str(self.onnx_file), '--shape', '4', '60', '80', '--verify',
                '--threads', '1'
            ],
            'tracking': ['python', TRACKEVAL_SNIPPET],
            'multisports': ['python', DECORD_SNIPPET],
        }

    def run_all(self):
        """The runs in one interpreter (``RUNS_SNIPPET``): the process's
        stderr, its stdout lines up to the ``cv2`` line (what the import
        printed, then that line) and the runs' results."""
        proc = _run([
            self.python, '-c', RUNS_SNIPPET,
            json.dumps(list(self.runs.values()))
        ], self.env, self.cwd)
        lines = proc.stdout.strip().splitlines()
        cv2_line = next(i for i, line in enumerate(lines)
                        if line.startswith('cv2 '))
        return proc.stderr, lines[:cv2_line + 1], dict(
            zip(self.runs, json.loads(lines[-1])))

    def refused(self):
        """Each run refused, naming its extra; returns what the
        interpreter's ``import stmixer_mm`` printed (stdout and stderr)."""
        # mmaction2's wheel declares decord: the plain install has it, an
        # environment made as tools/setup_env.sh makes it (mmaction2
        # --no-deps) has not
        _run([self.python, '-m', 'pip', 'uninstall', '-y', '-q', 'decord'],
             self.env, self.cwd)
        stderr, printed, refused = self.run_all()
        for extra, proc in refused.items():
            assert proc['rc'] != 0, (extra, proc['stdout'])
            assert f'pip install "stmixer_mm[{extra}]"' in proc['stderr'], (
                extra, proc['stderr'][-2000:])
        assert 'error: the ONNX export needs onnx, onnxruntime' in refused[
            'onnx']['stderr']
        assert not self.onnx_file.exists()
        return '\n'.join(printed) + stderr

    def installed(self, one_opencv):
        """With the extras (and ``one_opencv()`` after their install) the
        runs succeed, and the import prints nothing."""
        # [web] holds the browser test's driver only (stmixer-web runs
        # without it: its --help ran with every command)
        _run(self.pip + [f'{self.src}[{",".join(self.runs)},web]'], self.env,
             self.cwd)
        one_opencv()
        _run([self.python, '-c', 'import selenium'], self.env, self.cwd)
        stderr, printed, done = self.run_all()
        # the import printed nothing, and one OpenCV 4 is left
        assert stderr == '' and len(printed) == 1 and re.fullmatch(
            r'cv2 4\.\d+\.\d+', printed[0]), (printed, stderr)
        for extra, proc in done.items():
            assert proc['rc'] == 0, (extra, proc['stderr'][-2000:])
        assert 'verify OK' in done['onnx']['stdout'] and \
            self.onnx_file.is_file()
        assert done['tracking']['stdout'].splitlines(
        )[-1] == 'HOTA 1.0', done['tracking']
        assert done['multisports']['stdout'].splitlines()[-1].startswith(
            'frames 10 '), done['multisports']
