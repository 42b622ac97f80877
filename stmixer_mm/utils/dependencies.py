"""The supported OpenMMLab stack (the one record; ``setup.cfg`` and
``requirements/`` agree), plus ``cv2`` and mmcv's ops, checked cheaply when
``stmixer_mm`` is imported (docs/en/get_started.md)."""
import importlib.metadata as md
import importlib.util
import logging
from typing import Dict, List, Optional, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

#: distribution -> (supported specifier, hard requirement: ImportError at
#: import time if unmet; the others only warn)
PINNED: Dict[str, Tuple[str, bool]] = {
    # 2.7: torch._dynamo.config.recompile_limit (the compiled paths); 2.5:
    # torch.serialization.safe_globals (every checkpoint load)
    'torch': ('>=2.7', True),
    'mmengine': ('>=0.10.0,<0.11', True),
    'mmcv': ('>=2.0.0,<2.2.0', True),
    'mmdet': ('>=3.3.0,<3.4', True),
    'mmaction2': ('>=1.2.0,<1.3', True),
    'numpy': ('>=1.24', False),
    'setuptools': ('<82', False),
    'pycocotools': ('>=2.0.8', False),
}

#: The exact versions the project is tested with.
TESTED = {
    'torch': '2.13.0',
    'mmengine': '0.10.7',
    'mmcv': '2.1.0',
    'mmdet': '3.3.0',
    'mmaction2': '1.2.0',
}

#: The PyPI distributions that install the ``cv2`` package.
OPENCV_DISTS = ('opencv-python', 'opencv-python-headless',
                'opencv-contrib-python', 'opencv-contrib-python-headless')
#: The OpenCV versions mmcv 2.1 / mmdet 3.3 / mmaction2 1.2 work with: 4.x
#: from 4.5 and 5.x (opencv-python-headless 5.0.0.93, the GPU image's, runs
#: the package's tests); an older cv2 is refused.
OPENCV_SPEC = '>=4.5'
#: The OpenCV majors tested: a newer cv2 imports with a warning.
OPENCV_TESTED = (4, 5)
#: What the packaging files ask for (the tested 4.x wheels, numpy 2 builds;
#: mmaction2 declares opencv-contrib-python unpinned).
OPENCV_REQUIREMENT = 'opencv-python>=4.10,<5'

#: The optional features: extra of ``pip install "stmixer_mm[<extra>]"``
#: -> the modules it brings (requirements/<extra>.txt pins them).
EXTRAS: Dict[str, Tuple[str, ...]] = {
    'onnx': ('onnx', 'onnxruntime', 'onnxscript'),
    'tracking': ('trackeval', ),
    'multisports': ('decord', ),
    # the browser test of stmixer-web (its server needs no extra)
    'web': ('selenium', ),
}


def require_extra(extra: str,
                  feature: str,
                  modules: Optional[Tuple[str, ...]] = None) -> None:
    """Check, without importing them, that the modules an optional feature
    needs are installed, before the feature does any work.

    Args:
        extra (str): A key of :data:`EXTRAS`.
        feature (str): What needs them, for the message (a command, an
            option, a config setting).
        modules (tuple[str], optional): The modules ``feature`` needs.
            Defaults to every module of the extra.

    Raises:
        ModuleNotFoundError: Naming the feature, the missing modules and the
            ``pip install`` that brings them.
    """
    missing = [
        m for m in modules or EXTRAS[extra]
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise ModuleNotFoundError(
            f'{feature} needs {", ".join(missing)}, which '
            f'{"is" if len(missing) == 1 else "are"} not installed: '
            f'pip install "stmixer_mm[{extra}]"')


def _installed(dist: str) -> Optional[str]:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _release(version: str, parts: int = 3) -> Tuple[int, ...]:
    """``'4.14.0.94'`` -> ``(4, 14, 0)``; ``'2.13.0+cpu'`` -> ``(2, 13,
    0)``."""
    try:
        return Version(version).release[:parts]
    except InvalidVersion:
        return ()


def _imported_cv2() -> Tuple[Optional[str], str]:
    """(``cv2.__version__``, its file or why the import failed); imported,
    not looked up: only the module tells which of the wheels' files run."""
    try:
        import cv2
    except Exception as e:  # ImportError, or a broken mix of wheels
        return None, f'{type(e).__name__}: {e}'
    return (str(getattr(cv2, '__version__',
                        '')), str(getattr(cv2, '__file__', '?')))


def one_opencv_command(dists: Dict[str, str]) -> str:
    """The shell line keeping one OpenCV distribution of ``dists``
    (``{distribution: version}``; ``opencv-python``, else the headless one)
    at its version, restoring the ``cv2/`` files the uninstall removes."""
    keep = next(
        (d for d in ('opencv-python', 'opencv-python-headless') if d in dists),
        'opencv-python')
    others = sorted(d for d in dists if d != keep)
    version = dists.get(keep) or max(dists.values(), key=lambda v: _release(v))
    return (f'pip uninstall -y {" ".join(others)} && pip install '
            f'--force-reinstall --no-deps {keep}=={version}')


def check_opencv() -> Tuple[List[str], List[str]]:
    """Errors and warnings about the OpenCV wheels and the ``cv2`` they
    give: errors for a cv2 that does not import, one older than
    :data:`OPENCV_SPEC` and wheels of different versions sharing ``cv2/``;
    warnings for a major version not in :data:`OPENCV_TESTED` and for two
    wheels of one version.

    Returns:
        tuple[list[str], list[str]]: ``(errors, warnings)``.
    """
    hard, soft = [], []
    dists = {d: v for d in OPENCV_DISTS if (v := _installed(d)) is not None}
    listed = ', '.join(f'{d}=={v}' for d, v in dists.items()) or 'none'
    fix = ('pip uninstall -y ' + ' '.join(dists or ['opencv-python']) +
           f' && pip install "{OPENCV_REQUIREMENT}"')
    cv2_version, origin = _imported_cv2()
    if cv2_version is None:
        hard.append(f'cv2 does not import ({origin}); OpenCV distributions '
                    f'installed: {listed}. Fix: {fix}')
        return hard, soft
    if not dists:
        soft.append(f'cv2 {cv2_version} is imported from {origin}, which no '
                    'installed OpenCV distribution provides (a source '
                    'build?); tested with OpenCV 4.x and 5.x')
    in_spec = bool(_release(cv2_version)) and Version('.'.join(
        map(str, _release(cv2_version)))) in SpecifierSet(OPENCV_SPEC)
    if not in_spec:
        hard.append(f'cv2 {cv2_version} is imported ({origin}), stmixer_mm '
                    f'needs OpenCV {OPENCV_SPEC} (mmcv 2.1, mmaction2 1.2); '
                    f'OpenCV distributions installed: {listed}. Fix: {fix}')
    elif _release(cv2_version)[0] not in OPENCV_TESTED:
        soft.append(f'cv2 {cv2_version} is imported ({origin}): stmixer_mm '
                    'is tested with OpenCV ' +
                    ' and '.join(f'{m}.x' for m in OPENCV_TESTED) +
                    f'; if images or videos read wrongly: {fix}')
    releases = {_release(v) for v in dists.values()}
    if len(releases) > 1:
        hard.append(f'{len(dists)} OpenCV distributions of different '
                    f'versions are installed ({listed}): they all write '
                    f'cv2/, which now mixes their files (cv2 {cv2_version} '
                    f'is imported). Keep one. Fix: {fix}')
    elif len(dists) > 1:
        soft.append(f'{len(dists)} OpenCV distributions are installed '
                    f'({listed}; mmaction2 1.2.0 requires '
                    'opencv-contrib-python, mmengine opencv-python, so '
                    '`pip install stmixer_mm` brings both): they share cv2/, '
                    'which works while their versions are equal, but '
                    'uninstalling or upgrading one of them breaks cv2. Keep '
                    'one (docs/en/get_started.md, Install with pip): '
                    f'{one_opencv_command(dists)}')
    elif dists and in_spec and \
            _release(next(iter(dists.values()))) != _release(cv2_version):
        soft.append(f'cv2 {cv2_version} is imported ({origin}) but the '
                    f'installed OpenCV distribution is {listed}')
    return hard, soft


def check_dependencies(strict: bool = False) -> List[str]:
    """Check the stack (:data:`PINNED`, cv2, mmcv ops); return soft problems.

    Args:
        strict (bool): Raise on soft problems too (the setup self-check),
            and import mmcv's compiled ops instead of finding them.

    Raises:
        ImportError: A hard requirement missing or out of range, no
            usable OpenCV (4.5 or newer, one version), or mmcv without ops.
    """
    hard, soft = [], []
    for dist, (spec, required) in PINNED.items():
        ver = _installed(dist)
        if ver is None:
            (hard if required else soft).append(f'{dist} is not installed '
                                                f'(need {spec})')
            continue
        try:
            base = Version(ver).base_version  # 2.13.0+cpu -> 2.13.0
        except InvalidVersion:  # (a source build may write any string)
            (hard if required else soft).append(
                f'{dist}=={ver} is installed: {ver!r} is no PEP 440 '
                f'version, so it cannot be checked against {dist}{spec}')
            continue
        if base not in SpecifierSet(spec):
            (hard if required else soft).append(
                f'{dist}=={ver} is installed, stmixer_mm needs {dist}{spec}')
    cv_hard, cv_soft = check_opencv()
    hard.extend(cv_hard)
    soft.extend(cv_soft)
    mmcv_ops = ('mmcv is installed without its compiled ops ({}): it was '
                'built without torch visible (pip builds the sdist in an '
                'isolated environment). Rebuild it: MMCV_WITH_OPS=1 pip '
                'install --no-build-isolation --no-deps --force-reinstall '
                "'mmcv==2.1.0', or run tools/setup_env.sh")
    if _installed('mmcv') is not None:
        if strict:
            try:
                import mmcv._ext  # noqa: F401
            except ImportError as e:
                hard.append(mmcv_ops.format(f'import mmcv._ext failed: {e}'))
        elif importlib.util.find_spec('mmcv._ext') is None:
            hard.append(mmcv_ops.format('no mmcv._ext module'))
    if strict:
        hard.extend(soft)
        soft = []
    hint = ('Install the tested set with `bash tools/setup_env.sh` (from a '
            'clone) or `pip install stmixer_mm` after torch (tested: ' +
            ', '.join(f'{k}=={v}' for k, v in TESTED.items()) +
            '; requirements/runtime.txt).')
    if hard:
        raise ImportError('stmixer_mm: incompatible environment:\n  - ' +
                          '\n  - '.join(hard) + '\n' + hint)
    if soft:
        # imported here: the check must work before mmengine is known good
        from mmengine.logging import print_log
    for msg in soft:
        print_log(
            f'stmixer_mm: {msg}. {hint}',
            logger='current',
            level=logging.WARNING)
    return soft
