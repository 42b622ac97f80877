"""``FormattedOnceConfig``: the text mmengine's ``Config.pretty_text``
gives, formatted by yapf once per content (a Runner asks for it for the
log, the dumped config, the visualizer and every checkpoint)."""
import copy

import pytest
from mmengine.config import Config
from mmengine.config import config as mmengine_config

from stmixer_mm.apps.runner_utils import FormattedOnceConfig, build_runner
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


def test_per_statement_format_equals_the_whole_text():
    """The suite's yapf stand-in (tests/conftest.py): each top-level
    statement formatted alone and joined gives the text yapf gives for the
    whole config (a CNN, a ViT and the quick-start config, their ``model``
    nested four levels deep); a text with a comment between statements is
    formatted whole."""
    from yapf.yapflib.yapf_api import FormatCode

    from stmixer_mm.testing.formatting import format_per_statement
    style = dict(
        based_on_style='pep8',
        blank_line_before_nested_class_or_def=True,
        split_before_expression_after_opening_paren=True)
    per_statement = format_per_statement(FormatCode)
    for name in (
            'stmixer/stmixer_slowfast-r50_k400-pre_8xb2-8x8x1-12e-adamw_'
            'ava22-rgb.py', 'stmixer/stmixer_vit-base-p16_videomae-k400-'
            'pre_8xb1-16x4x1-12e-adamw_ava22-rgb.py',
            'quickstart/stmixer_r3d-tiny_1xb8-8x2x1-36e_synthetic-ava-rgb.py'):
        cfg = Config.fromfile(repo_path('configs', name))
        raw = Config(cfg.to_dict(), format_python_code=False).pretty_text
        assert raw.count('\n') > 100
        assert per_statement(
            raw, style_config=style) == FormatCode(
                raw, style_config=style), name
    calls = []

    def counted(source, **kwargs):
        calls.append(source)
        return FormatCode(source, **kwargs)

    per_statement = format_per_statement(counted)
    text = "a = dict(b=1,  c=[1,2])\nd = 'e'\n"
    assert per_statement(text) == FormatCode(text) and len(calls) == 2
    assert per_statement(text)[0] == FormatCode(text)[0] and len(calls) == 2
    for whole in ('a = 1\n# note\nd = 2\n', 'a = 1\n\nd = 2\n'):
        calls.clear()
        assert per_statement(whole) == FormatCode(whole)
        assert calls == [whole]
    calls.clear()
    with pytest.raises(Exception):  # yapf's own error, as for the whole
        per_statement('a = (\n')
    assert calls == ['a = (\n']
