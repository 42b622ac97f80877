"""``FormattedOnceConfig``: the text mmengine's ``Config.pretty_text``
gives, formatted by yapf once per content (a Runner asks for it for the
log, the dumped config, the visualizer and every checkpoint)."""
import copy

from mmengine.config import Config
from mmengine.config import config as mmengine_config

from stmixer_mm.engine import FormattedOnceConfig, build_runner
from stmixer_mm.testing import TINY_CFG, repo_path


def _count_formats(monkeypatch):
    calls = []
    format_code = mmengine_config.FormatCode

    def counted(*args, **kwargs):
        calls.append(1)
        return format_code(*args, **kwargs)

    monkeypatch.setattr(mmengine_config, 'FormatCode', counted)
    return calls


def test_same_text_formatted_once_per_content(monkeypatch):
    cfg = Config.fromfile(repo_path(TINY_CFG))
    expected = cfg.pretty_text
    once = FormattedOnceConfig.of(cfg)
    calls = _count_formats(monkeypatch)
    assert once.pretty_text == expected
    assert once.pretty_text == expected and len(calls) == 1
    # a deep copy (the Runner's) keeps the class and the formatted text
    copied = copy.deepcopy(once)
    assert type(copied) is FormattedOnceConfig
    assert copied.pretty_text == expected and len(calls) == 1
    # another content is formatted again, as Config formats it
    copied.train_cfg.max_epochs = 7
    assert 'max_epochs=7' in copied.pretty_text and len(calls) == 2
    assert copied.pretty_text == Config(
        copied.to_dict(), filename=copied.filename).pretty_text
    assert once.pretty_text == expected  # the original is unchanged


def test_runner_config_is_formatted_once(tmp_path):
    cfg = Config.fromfile(repo_path(TINY_CFG))
    cfg.work_dir = str(tmp_path)
    runner = build_runner(cfg)
    assert type(runner.cfg) is FormattedOnceConfig
    assert runner.cfg.pretty_text == cfg.pretty_text
