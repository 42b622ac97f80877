"""Public names of the last layout that moved, still importable from their
old place with a ``FutureWarning`` naming the new one (as mmdet keeps
moved names for a release); a name that left the package fails with a
``ModuleNotFoundError`` / ``AttributeError`` naming where it went.

- :data:`MOVED_MODULES`: old module -> new module (a sub-module of an old
  one moves with it: ``stmixer_mm.cli.train`` -> ``stmixer_mm.apps.cli.
  train``), or the text of where a module outside the package went. An
  old module imports as a stand-in whose attributes are read from the new
  one (:class:`MovedModuleFinder`, first on ``sys.meta_path`` for these
  names only; every other import is left to Python's finders).
- :data:`MOVED_NAMES`: per old module (or package that still exists), a
  name -> the module that now holds it; a package that lost names reads
  them through :func:`moved_attribute` in its ``__getattr__``.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings
from typing import Any, Dict, Optional, Tuple

#: forecasting's old modules -> its project's (issue 113)
_FORECASTING = {
    'stmixer_mm.models.roi_heads.forecast_heads': 'forecast_head',
    'stmixer_mm.models.roi_heads.forecast_heads.stmixer_forecast_head':
    'forecast_head',
    'stmixer_mm.datasets.transforms.forecast': 'forecast_targets',
    'stmixer_mm.evaluation.functional.forecast': 'functional',
    'stmixer_mm.evaluation.metrics.forecast_metric': 'forecast_metric',
}
#: old module -> new module, or the text of where it went (not importable)
MOVED_MODULES: Dict[str, str] = {
    'stmixer_mm.converters.videomae':
    'stmixer_mm.apps.converters.videomae',
    'stmixer_mm.converters.pyslowfast':
    'stmixer_mm.apps.converters.pyslowfast',
    'stmixer_mm.visualization.dataset_browser':
    'stmixer_mm.apps.dataset_doctor.browser',
    'stmixer_mm.visualization.prediction_grid':
    'stmixer_mm.apps.prediction_grid',
    'stmixer_mm.visualization.action_drawing':
    'stmixer_mm.apps.json_logs',
    'stmixer_mm.visualization.display':
    'stmixer_mm.apps.display',
    'stmixer_mm.utils.track_ids':
    'stmixer_mm.datasets.track_ids',
    'stmixer_mm.utils.package_files':
    'stmixer_mm.apis.package_files',
    'stmixer_mm.utils.tubelet_boxes':
    'stmixer_mm.evaluation.functional.tubelet_boxes',
    'stmixer_mm.utils.arrays':
    'stmixer_mm.evaluation.functional.arrays',
    'stmixer_mm.utils.json_input':
    'stmixer_mm.datasets.json_input',
    'stmixer_mm.utils.mask_rle':
    'stmixer_mm.datasets.mask_rle',
    'stmixer_mm.cli':
    'stmixer_mm.apps.cli',
    'stmixer_mm.benchmarks':
    'stmixer_mm.apps.benchmarks',
    'stmixer_mm.data_gen':
    'stmixer_mm.apps.data_gen',
    'stmixer_mm.datasets.importers':
    'stmixer_mm.apps.importers',
    'stmixer_mm.datasets.dataset_checks.tubes':
    'stmixer_mm.apps.dataset_doctor.tubes',
    'stmixer_mm.apis.demo':
    'stmixer_mm.apps.demo',
    'stmixer_mm.apis.stop_signals':
    'stmixer_mm.apps.stop_signals',
    'stmixer_mm.apis.web_demo':
    'stmixer_mm.apps.web_demo',
    'stmixer_mm.apis.online':
    'stmixer_mm.apps.online',
    'stmixer_mm.apis.online.runner':
    'stmixer_mm.apps.online.runner',
    'stmixer_mm.apis.online.stream_run':
    'stmixer_mm.apps.online.stream_run',
    'stmixer_mm.apis.online.tracker':
    'stmixer_mm.apis.greedy_tracker',
    'stmixer_mm.apis.online.tracking':
    'stmixer_mm.apis.tracking',
    'stmixer_mm.apis.official_checkpoints':
    'stmixer_mm.converters.official_checkpoints',
    'stmixer_mm.utils.experiments':
    'stmixer_mm.apps.benchmarks.experiments',
    'stmixer_mm.utils.sync_counter':
    'stmixer_mm.apps.benchmarks.sync_counter',
    'stmixer_mm.models.utils.checks':
    'stmixer_mm.utils.checks',
    'stmixer_mm.deployment':
    'stmixer_mm.apps.deployment',
    'stmixer_mm.apis.tracker':
    'stmixer_mm.apis.greedy_tracker',
    'stmixer_mm.utils.settings':
    'stmixer_mm.apps.preflight',
    'stmixer_mm.utils.config_files':
    'stmixer_mm.apis.config_files',
    'stmixer_mm.utils.output_files':
    'stmixer_mm.apis.output_files',
    'stmixer_mm.utils.command_errors':
    'stmixer_mm.apps.command_errors',
    'stmixer_mm.utils.json_logs':
    'stmixer_mm.apps.json_logs',
    'stmixer_mm.utils.collect_env':
    'stmixer_mm.apps.collect_env',
    'stmixer_mm.engine.runner_utils':
    'stmixer_mm.apps.runner_utils',
    'stmixer_mm.engine.work_dir_lock':
    'stmixer_mm.apps.work_dir_lock',
    'stmixer_mm.converters.tool_utils':
    'stmixer_mm.apps.converter_tools',
    'stmixer_mm.datasets.dataset_checks':
    'stmixer_mm.apps.dataset_doctor',
    'stmixer_mm.datasets.dataset_checks.ava':
    'stmixer_mm.datasets.ava_files',
    'stmixer_mm.models.layers.sampling.mmcv_op':
    'stmixer_mm.ops.multi_scale_deform_attn',
    'stmixer_mm.models.trackers':
    'projects/track_queries of the repository (the track_queries package: '
    'custom_imports=dict(imports=[\'track_queries\']) with that folder on '
    'the Python path; projects/track_queries/README.md)',
    'stmixer_mm.models.layers.query_interaction':
    'projects/track_queries of the repository '
    '(track_queries.query_interaction; projects/track_queries/README.md)',
    **{
        old:
        f'projects/forecasting of the repository (forecasting.{new}; '
        'projects/forecasting/README.md)'
        for old, new in _FORECASTING.items()
    },
}
#: packaged configs (``stmixer_mm::<folder>/<config>.py``) that moved to a
#: project of the repository -> their path in a checkout (issue 113)
MOVED_CONFIGS: Dict[str, str] = {
    f'{folder}/{name}.py': f'projects/forecasting/configs/{name}.py'
    for folder, name in (
        ('quickstart', 'stmixer-forecast_r3d-tiny_1xb8-8x2x1-6e_synthetic-'
         'tubes-forecast-rgb'),
        ('quickstart', 'stmixer-forecast-head_r3d-tiny_1xb8-8x2x1-12e_'
         'synthetic-tubes-forecast-rgb'),
        ('stmixer', 'stmixer-forecast_vit-base-p16_videomae-k400-pre_8xb1-'
         '16x4x1-12e-adamw_ava22-rgb'),
        ('stmixer_tubes', 'stmixer-forecast_vit-base-p16_videomae-k400-pre_'
         '8xb1-16x2x1-12e-adamw_jhmdb21-rgb'),
        ('stmixer_tubes', 'stmixer-forecast_vit-base-p16_videomae-k400-pre_'
         '8xb1-16x2x1-12e-adamw_ucf101-24-rgb'))
}

_VIDEO_IO = 'stmixer_mm.apis.video_io'
_CHECKS = 'stmixer_mm.datasets.dataset_checks'
_STREAM_RUN = 'stmixer_mm.apps.online.stream_run'
_RUNNER_UTILS = 'stmixer_mm.apps.runner_utils'


def _by_home(homes: Dict[str, Tuple[str, ...]]) -> Dict[str, str]:
    """``{name: module}`` of ``{module: names it holds}``."""
    return {name: home for home, names in homes.items() for name in names}


#: per old module or package, name -> the module that now holds it
MOVED_NAMES: Dict[str, Dict[str, str]] = {
    'stmixer_mm.apis':
    _by_home({'stmixer_mm.apps.online': ('OnlineRunner', )}),
    'stmixer_mm.apis.online':
    _by_home({
        f'{_VIDEO_IO}.ring_buffer': ('ClipRingBuffer', 'KeyframeClips'),
        'stmixer_mm.apps.online': ('OnlineRunner', 'display_available'),
        'stmixer_mm.apps.stop_signals':
        ('RunInterrupted', 'on_stop_signals', 'signal_name'),
        f'{_VIDEO_IO}.sources':
        ('ArraySource', 'FolderSource', 'Frame', 'FrameSource',
         'VideoReadError', 'expand_inputs', 'is_live_spec'),
        f'{_VIDEO_IO}.capture': ('CaptureSource', 'open_source'),
        'stmixer_mm.apis.greedy_tracker': ('OnlineTubeTracker', 'Track'),
        f'{_VIDEO_IO}.writers': ('JsonlWriter', 'VideoWriter'),
        _STREAM_RUN: ('ProgressLine', 'format_stats'),
        'stmixer_mm.apis.output_files':
        ('OutputFiles', 'claim_output', 'output_exists_error',
         'prepare_out_dir', 'temp_path'),
    }),
    'stmixer_mm.converters':
    _by_home({
        'stmixer_mm.converters.common':
        ('ConversionReport', 'compare_state_dicts', 'detect_backbone'),
        'stmixer_mm.converters.official':
        ('BACKBONES', 'OFFICIAL_EMPTY_WEIGHT', 'convert_official_state_dict',
         'extract_state_dict', 'convert_official_checkpoint',
         'official_checkpoint_meta', 'refuse_unknown_keys'),
        'stmixer_mm.apps.converters.pyslowfast':
        ('convert_pyslowfast_state_dict', 'extract_pyslowfast_state_dict'),
        'stmixer_mm.apps.converters.videomae':
        ('convert_videomae_state_dict', 'extract_videomae_state_dict'),
    }),
    'stmixer_mm.utils.settings':
    _by_home({
        'stmixer_mm.utils.checks': ('ConfigSettingError', 'is_int', 'is_real'),
        'stmixer_mm.apis.config_files': ('load_config', ),
        'stmixer_mm.datasets.ava_dataset': ('mmaction2_problem', ),
    }),
    'stmixer_mm.utils.output_files':
    _by_home({
        'stmixer_mm.apps.output_files':
        ('MANIFEST', 'file_states', 'write_manifest', 'remove_generated',
         'check_output_dir', 'pid_alive', 'clear_stale_staging',
         'staged_output_dir'),
    }),
    'stmixer_mm.utils':
    _by_home({
        'stmixer_mm.apis.config_files': ('load_config', ),
        'stmixer_mm.apps.preflight': ('check_config', ),
        'stmixer_mm.engine.checkpoint': ('find_state_dict', ),
    }),
    'stmixer_mm.engine':
    _by_home({
        _RUNNER_UTILS:
        ('FormattedOnceConfig', 'adapt_cfg_to_device', 'build_runner',
         'init_dist_without_cuda', 'quiet_known_noise', 'shutdown_dist',
         'add_class_consistency_hook'),
        'stmixer_mm.apps.work_dir_lock': ('LOCK_NAME', 'WorkDirLock'),
    }),
    'stmixer_mm.engine.hooks':
    _by_home({
        _RUNNER_UTILS:
        ('add_class_consistency_hook', 'trigger_visualization_hook')
    }),
    'stmixer_mm.visualization':
    _by_home({
        'stmixer_mm.apps.json_logs': ('load_scalars', 'plot_training_curves'),
        'stmixer_mm.apps.display': ('display_problem', ),
    }),
    _VIDEO_IO:
    _by_home({_STREAM_RUN: ('ProgressLine', 'format_stats')}),
    _CHECKS:
    _by_home({
        'stmixer_mm.apps.dataset_doctor.common':
        ('ERROR', 'WARNING', 'linear_runs', 'resize_factor'),
        'stmixer_mm.apps.dataset_doctor.report':
        ('Finding', 'DatasetReport', 'MIN_INTERPOLATED_FRAMES'),
        'stmixer_mm.apps.dataset_doctor.ava': ('check_ava_split', ),
    }),
    f'{_CHECKS}.ava':
    _by_home({
        'stmixer_mm.apps.dataset_doctor.ava': ('check_ava_split', ),
        'stmixer_mm.apps.preflight':
        ('ava_config_classes', 'metric_custom_classes'),
    }),
}


def _moved_prefix(old: str) -> Optional[str]:
    """The longest key of :data:`MOVED_MODULES` that ``old`` is or is
    under, or None."""
    for prefix in sorted(MOVED_MODULES, key=len, reverse=True):
        if old == prefix or old.startswith(prefix + '.'):
            return prefix
    return None


def _new_module(old: str) -> Optional[str]:
    """Where the module ``old`` went (the longest moved prefix), or None."""
    prefix = _moved_prefix(old)
    return None if prefix is None else \
        MOVED_MODULES[prefix] + old[len(prefix):]


def moved_attribute(module: str, name: str) -> Any:
    """The value of ``<module>.<name>`` that moved (:data:`MOVED_NAMES`),
    after a ``FutureWarning`` naming its new module; for a package's
    ``__getattr__``.

    Args:
        module (str): The old module (``'stmixer_mm.apis'``).
        name (str): The attribute read.

    Returns:
        Any: ``getattr(<new module>, name)``.

    Raises:
        AttributeError: ``name`` is not a moved name of ``module``.
    """
    home = MOVED_NAMES.get(module, {}).get(name)
    if home is None:
        raise AttributeError(f'module {module!r} has no attribute {name!r}')
    warnings.warn(
        f'{module}.{name} moved to {home}.{name}; import it from {home} '
        '(the old place goes in a later release)',
        FutureWarning,
        stacklevel=3)
    value = getattr(importlib.import_module(home), name)
    setattr(sys.modules[module], name, value)  # (warned once)
    return value


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a moved module (:data:`MOVED_MODULES`) as a stand-in whose
    attributes are those of the new module (or the names of
    :data:`MOVED_NAMES`), after a ``FutureWarning`` (once per moved module,
    its sub-modules included); a module that left the package fails naming
    where it went."""

    def __init__(self) -> None:
        #: the moved modules warned about (their sub-modules not again)
        self.warned = set()

    def find_spec(self, fullname: str, path=None, target=None):
        if not fullname.startswith('stmixer_mm.') or \
                _new_module(fullname) is None:
            return None
        new = _new_module(fullname)
        spec = None if '/' in new else importlib.util.find_spec(new)
        if spec is None and '/' not in new:  # no such new module either
            return None
        return importlib.util.spec_from_loader(
            fullname,
            self,
            is_package=bool(spec and spec.submodule_search_locations))

    def create_module(self, spec) -> types.ModuleType:
        new = _new_module(spec.name)
        if '/' in new:  # outside the package
            raise ModuleNotFoundError(
                f'{spec.name} left the package: it moved to {new}',
                name=spec.name)
        prefix = _moved_prefix(spec.name)
        if prefix not in self.warned:  # once per moved module and its own
            self.warned.add(prefix)
            warnings.warn(
                f'{spec.name} moved to {new}; import {new} (the old place '
                'goes in a later release)',
                FutureWarning,
                stacklevel=2)
        stand_in = types.ModuleType(spec.name, f'Moved to :mod:`{new}`.')
        names = MOVED_NAMES.get(spec.name, {})

        def __getattr__(name: str) -> Any:
            if name in names:
                return getattr(importlib.import_module(names[name]), name)
            target = importlib.import_module(new)
            if hasattr(target, name):
                return getattr(target, name)
            try:  # a sub-module of the new one
                return importlib.import_module(f'{new}.{name}')
            except ModuleNotFoundError:
                raise AttributeError(
                    f'module {spec.name!r} (moved to {new}) has no '
                    f'attribute {name!r}') from None

        stand_in.__getattr__ = __getattr__
        return stand_in

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the stand-in reads the new module."""


def install() -> None:
    """Put :class:`MovedModuleFinder` first on ``sys.meta_path`` (once):
    it answers the moved names only."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
